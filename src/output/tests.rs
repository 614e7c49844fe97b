//! The writer against real temp directories.

use std::fs;
use std::path::Path;

use super::*;
use crate::error::Error;
use crate::manifest::FileEntry;

/// One build of `files` (path, body) into `out`.
fn write(out: &Path, files: &[(&str, &str)], verify: bool) -> Result<Report, Error> {
    let (previous, _) = Previous::load(out, verify);
    let writer = Writer::new(out, &previous, false)?;
    let mut batch = writer.batch();
    let mut entries = Vec::new();
    for (path, body) in files {
        entries.push(writer.offer(
            &mut batch,
            Class::Other,
            path.to_string(),
            "text/plain",
            body.as_bytes(),
        )?);
    }
    writer
        .finish(vec![batch], entries, &[], &[0; 32])
        .map(|(report, _)| report)
}

#[test]
fn writes_skips_identical_and_prunes_only_what_it_generated() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path();
    let r = write(out, &[("webroot/a/x.txt", "1"), ("dns/a.zone", "2")], false).unwrap();
    assert_eq!(r.written.len(), 3, "{r:?}");
    fs::write(out.join("dns/mine.zone"), "user file").unwrap();
    // A manifest that lists paths outside the tree: they are never touched.
    let mut listed = crate::manifest::parse(&fs::read(out.join("manifest.json")).unwrap())
        .unwrap()
        .files;
    listed.insert("../evil", ([0; 32], 1));
    listed.insert("/etc/passwd", ([0; 32], 1));
    let entries: Vec<FileEntry> = listed
        .iter()
        .map(|(path, &(sha256, size))| FileEntry {
            path: path.to_string(),
            sha256,
            size,
            media_type: "text/plain",
        })
        .collect();
    fs::write(
        out.join("manifest.json"),
        crate::manifest::to_bytes(&[0; 32], &entries, &[]),
    )
    .unwrap();
    let r = write(out, &[("dns/a.zone", "2")], false).unwrap();
    assert_eq!(r.unchanged, 1);
    assert_eq!(r.removed, ["webroot/a/x.txt"]);
    assert!(
        !out.join("webroot/a").exists(),
        "emptied directory left behind"
    );
    // Nothing is made under webroot/ any more (a target left out): it goes too.
    assert!(!out.join("webroot").exists());
    assert!(out.join("dns/mine.zone").exists());
}

#[test]
fn an_edited_file_is_repaired_without_verify_and_verify_reads_every_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path();
    write(out, &[("dns/a.zone", "2"), ("dns/b.zone", "3")], false).unwrap();
    fs::write(out.join("dns/a.zone"), "edited by hand").unwrap();
    let r = write(out, &[("dns/a.zone", "2"), ("dns/b.zone", "3")], false).unwrap();
    assert_eq!(
        (&r.written[..], r.unchanged),
        (&["dns/a.zone".into()][..], 2)
    );
    assert_eq!(r.repaired, ["dns/a.zone"]);
    assert_eq!(fs::read_to_string(out.join("dns/a.zone")).unwrap(), "2");
    // The index is bound to the manifest: a file changed behind both is still found.
    fs::remove_file(out.join(index::PATH)).unwrap();
    fs::write(out.join("dns/b.zone"), "4").unwrap();
    let r = write(out, &[("dns/a.zone", "2"), ("dns/b.zone", "3")], true).unwrap();
    assert_eq!(r.written, ["dns/b.zone"]);
    assert_eq!(fs::read_to_string(out.join("dns/b.zone")).unwrap(), "3");
    // A deleted directory is noticed without --verify.
    fs::remove_dir_all(out.join("dns")).unwrap();
    let r = write(out, &[("dns/a.zone", "2"), ("dns/b.zone", "3")], false).unwrap();
    assert_eq!(r.written, ["dns/a.zone", "dns/b.zone"]);
}

#[test]
fn an_unfinished_build_is_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path();
    write(out, &[("dns/a.zone", "2")], false).unwrap();
    fs::write(out.join("dns/a.zone"), "half").unwrap();
    fs::write(out.join(IN_PROGRESS), "").unwrap();
    let r = write(out, &[("dns/a.zone", "2")], false).unwrap();
    assert_eq!(r.written, ["dns/a.zone"]);
    assert!(!out.join(IN_PROGRESS).exists());
}

#[cfg(unix)]
#[test]
fn never_writes_through_a_planted_symlink() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    fs::create_dir(&out).unwrap();
    std::os::unix::fs::symlink(elsewhere.path(), out.join("webroot")).unwrap();
    let err = write(
        &out,
        &[("dns/a.zone", "1"), ("webroot/a/x.txt", "1")],
        false,
    )
    .unwrap_err();
    assert!(matches!(err, Error::UnsafeOutput { .. }), "{err:?}");
    assert_eq!(fs::read_dir(elsewhere.path()).unwrap().count(), 0);
    let left: Vec<_> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["webroot"], "a failed build left files behind");
}

#[test]
fn a_failed_build_removes_the_directories_it_created_and_only_those() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path();
    fs::create_dir_all(out.join("z/y.txt")).unwrap();
    fs::create_dir_all(out.join("a/kept")).unwrap();
    let err = write(
        out,
        &[
            ("a/b/c/x.txt", "1"),
            ("d/e/f.txt", "1"),
            ("d/g/h.txt", "1"),
            ("z/y.txt", "1"),
        ],
        false,
    )
    .unwrap_err();
    assert!(matches!(err, Error::UnsafeOutput { .. }), "{err:?}");
    let mut left: Vec<String> = walkdir::WalkDir::new(out)
        .min_depth(1)
        .into_iter()
        .map(|e| {
            e.unwrap()
                .path()
                .strip_prefix(out)
                .unwrap()
                .display()
                .to_string()
        })
        .collect();
    left.sort();
    assert_eq!(left, ["a", "a/kept", "z", "z/y.txt"]);
}

#[cfg(unix)]
#[test]
fn a_planted_link_at_the_temp_name_is_replaced_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    fs::write(&victim, "keep").unwrap();
    let out = dir.path().join("out");
    fs::create_dir_all(out.join("dns")).unwrap();
    std::os::unix::fs::symlink(&victim, out.join(format!("dns/{TEMP_PREFIX}a.zone"))).unwrap();
    write(&out, &[("dns/a.zone", "1")], false).unwrap();
    assert_eq!(fs::read_to_string(&victim).unwrap(), "keep");
    assert_eq!(fs::read_to_string(out.join("dns/a.zone")).unwrap(), "1");
}

#[cfg(unix)]
#[test]
fn a_planted_link_at_a_directory_temp_name_is_replaced_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    fs::create_dir(&victim).unwrap();
    let out = dir.path().join("out");
    fs::create_dir(&out).unwrap();
    std::os::unix::fs::symlink(&victim, out.join(format!("{TEMP_PREFIX}dns"))).unwrap();
    let report = write(&out, &[("dns/a.zone", "1"), ("dns/b.zone", "2")], false).unwrap();
    assert_eq!(
        report.written,
        ["dns/a.zone", "dns/b.zone", "manifest.json"]
    );
    assert_eq!(fs::read_dir(&victim).unwrap().count(), 0);
    assert_eq!(fs::read_to_string(out.join("dns/b.zone")).unwrap(), "2");
    assert!(!out.join(format!("{TEMP_PREFIX}dns")).exists());
}

#[cfg(unix)]
#[test]
fn files_are_world_readable_and_no_temp_is_left() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    // What a killed build leaves: a temp file, a staged directory, and the in-progress marker.
    fs::write(dir.path().join(format!("{TEMP_PREFIX}old")), "stale").unwrap();
    fs::create_dir_all(dir.path().join(format!("{TEMP_PREFIX}c/deep"))).unwrap();
    fs::write(
        dir.path().join(format!("{TEMP_PREFIX}c/deep/b.txt")),
        "stale",
    )
    .unwrap();
    fs::write(dir.path().join(IN_PROGRESS), "").unwrap();
    write(dir.path(), &[("a/b.txt", "x")], false).unwrap();
    let mode = fs::metadata(dir.path().join("a/b.txt"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o044, 0o044, "mode {mode:o}");
    let names: Vec<_> = walkdir::WalkDir::new(dir.path())
        .into_iter()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names.iter().any(|n| n.starts_with(TEMP_PREFIX)),
        "{names:?}"
    );
}
