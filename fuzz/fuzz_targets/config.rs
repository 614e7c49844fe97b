//! The config loader on arbitrary text: never a panic; whatever validates plans and renders.
#![no_main]

libfuzzer_sys::fuzz_target!(|text: &str| {
    let (config, _) = mtasts::config::parse(text);
    if let Some(config) = config {
        let now = mtasts::clock::from_epoch("1764288000").unwrap();
        let plan = mtasts::plan::plan(&config, &mtasts::state::Lock::new(), now, &[]);
        let templates = mtasts::render::Templates::load(None).unwrap();
        let files = mtasts::commands::build::tree(&plan, &config.nginx, &templates).unwrap();
        for f in files.iter().filter(|f| f.path.ends_with("mta-sts.txt")) {
            mtasts::policy::parse(&f.bytes).unwrap();
        }
    }
});
