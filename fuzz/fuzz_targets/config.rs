//! The config loader on arbitrary text: never a panic; whatever validates plans and renders,
//! and every policy it renders parses back.
#![no_main]

libfuzzer_sys::fuzz_target!(|text: &str| {
    let (config, _) = mtasts::config::parse(text);
    let Some(config) = config else { return };
    let now = mtasts::clock::from_epoch("1764288000").unwrap();
    let plan = mtasts::plan::plan(config.domains, &mtasts::state::Lock::new(), now, &[]);
    let templates = mtasts::render::Templates::compile(&[]).unwrap();
    for d in plan.domains.iter().filter(|d| d.published()) {
        mtasts::policy::parse(d.policy().as_bytes()).unwrap();
        let inputs = templates.inputs(d, &config.nginx);
        templates.nginx(&inputs).unwrap();
        templates.zone(&inputs).unwrap();
    }
});
