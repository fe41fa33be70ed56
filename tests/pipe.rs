//! `casehard pipe`: a generated project streamed through casehard, as tar or JSON, gives the
//! same changes as `casehard fix` on a copy; hostile archives are refused with nothing written.

mod harness;

use base64::Engine as _;
use harness::*;
use std::process::Command;

fn demo() -> std::path::PathBuf {
    manifest_dir().join("tests/fixtures/apps/nextjs-supabase-stripe")
}

/// The demo hardened by `casehard fix` in a temporary repository.
fn fixed_demo() -> tempfile::TempDir {
    let repo = repo_with(&demo());
    assert_eq!(casehard(repo.path(), &["fix", "."]).code, 1);
    repo
}

fn tar_of(dir: &std::path::Path, gzip: bool) -> Vec<u8> {
    let flag = if gzip { "-czf" } else { "-cf" };
    let out = Command::new("tar")
        .args(["-C", dir.to_str().unwrap(), flag, "-", "."])
        .output()
        .unwrap();
    assert!(out.status.success());
    out.stdout
}

fn json_map_of(dir: &std::path::Path) -> Vec<u8> {
    let mut files = serde_json::Map::new();
    for (path, bytes) in tree_of(dir) {
        let value = match String::from_utf8(bytes.clone()) {
            Ok(text) => serde_json::Value::String(text),
            Err(_) => {
                serde_json::json!({ "base64": base64::engine::general_purpose::STANDARD.encode(bytes) })
            }
        };
        files.insert(path, value);
    }
    serde_json::to_vec(&serde_json::json!({ "files": files })).unwrap()
}

#[test]
fn tar_to_diff_equals_casehard_diff() {
    let repo = repo_with(&demo());
    let expected = casehard(repo.path(), &["diff", "."]);
    for gzip in [false, true] {
        let (code, stdout, stderr) = casehard_with_input(
            repo.path(),
            &["pipe", "--from", "tar", "--to", "diff"],
            &tar_of(&demo(), gzip),
        );
        assert_eq!(code, 1, "{stderr}");
        assert_eq!(
            String::from_utf8(stdout).unwrap(),
            expected.stdout,
            "gzip: {gzip}"
        );
    }
}

#[test]
fn tar_to_tar_extracts_to_the_hardened_tree() {
    let fixed = fixed_demo();
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) =
        casehard_with_input(dir.path(), &["pipe", "--to", "tar"], &tar_of(&demo(), true));
    assert_eq!(code, 1, "{stderr}");
    let out = tempfile::tempdir().unwrap();
    let mut tar = Command::new("tar")
        .args(["-x", "-C", out.path().to_str().unwrap()])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(tar.stdin.as_mut().unwrap(), &stdout).unwrap();
    assert!(tar.wait().unwrap().success());
    assert_eq!(tree_of(out.path()), tree_of(fixed.path()));
}

#[test]
fn json_to_json_gives_the_same_files_as_fix() {
    let fixed = fixed_demo();
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) =
        casehard_with_input(dir.path(), &["pipe", "--to", "json"], &json_map_of(&demo()));
    assert_eq!(code, 1, "{stderr}");
    let v: serde_json::Value = serde_json::from_slice(&stdout).unwrap();
    let got: std::collections::BTreeMap<String, Vec<u8>> = v["files"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_str()
                    .expect("text files stay strings")
                    .as_bytes()
                    .to_vec(),
            )
        })
        .collect();
    assert_eq!(got, tree_of(fixed.path()));
}

#[test]
fn report_lists_findings_and_a_clean_project_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, _) = casehard_with_input(
        dir.path(),
        &["pipe", "--to", "report", "--format", "json"],
        &json_map_of(&demo()),
    );
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_slice(&stdout).unwrap();
    assert!(v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["rule"] == "schema/mass-assignment"));
    let clean = br#"{"files": {"src/a.ts": "export const a = 1;\n"}}"#;
    let (code, stdout, _) = casehard_with_input(dir.path(), &["pipe", "--to", "diff"], clean);
    assert_eq!(code, 0);
    assert!(stdout.is_empty());
}

fn raw_entry(name: &[u8], kind: tar::EntryType, data: &[u8]) -> Vec<u8> {
    let mut header = tar::Header::new_ustar();
    header.as_ustar_mut().unwrap().name[..name.len()].copy_from_slice(name);
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_entry_type(kind);
    header.set_cksum();
    let mut out = header.as_bytes().to_vec();
    out.extend_from_slice(data);
    out.resize(512 + data.len().div_ceil(512) * 512, 0);
    out
}

fn archive(entries: &[Vec<u8>]) -> Vec<u8> {
    let mut out: Vec<u8> = entries.concat();
    out.extend_from_slice(&[0u8; 1024]);
    out
}

#[test]
fn hostile_archives_are_refused_and_nothing_is_written() {
    let flawed = raw_entry(b"app/api/x/route.ts", tar::EntryType::Regular, b"import { z } from 'zod'\nexport const s = z.object({})\nexport async function POST() {}\n");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(
        &mut gz,
        &archive(&[raw_entry(
            b"bomb.txt",
            tar::EntryType::Regular,
            &vec![b'a'; 8 << 20],
        )]),
    )
    .unwrap();
    let bomb = gz.finish().unwrap();
    let cases: Vec<(&str, Vec<u8>, &[&str])> = vec![
        (
            "absolute path",
            archive(&[
                flawed.clone(),
                raw_entry(b"/tmp/casehard-evil.ts", tar::EntryType::Regular, b"x"),
            ]),
            &[],
        ),
        (
            "`..` leaves the project root",
            archive(&[
                flawed.clone(),
                raw_entry(b"src/../../evil.ts", tar::EntryType::Regular, b"x"),
            ]),
            &[],
        ),
        (
            "symbolic link",
            archive(&[
                flawed.clone(),
                raw_entry(b"link.ts", tar::EntryType::Symlink, b""),
            ]),
            &[],
        ),
        (
            "hard link",
            archive(&[
                flawed.clone(),
                raw_entry(b"hard.ts", tar::EntryType::Link, b""),
            ]),
            &[],
        ),
        (
            "device file",
            archive(&[
                flawed.clone(),
                raw_entry(b"dev", tar::EntryType::Block, b""),
            ]),
            &[],
        ),
        (
            "duplicate path",
            archive(&[
                flawed.clone(),
                raw_entry(b"./app/api/x/route.ts", tar::EntryType::Regular, b"x"),
            ]),
            &[],
        ),
        (
            "limit of 4096 bytes",
            archive(&[
                flawed.clone(),
                raw_entry(b"big.txt", tar::EntryType::Regular, &[b'a'; 5000]),
            ]),
            &["--max-bytes", "4096"],
        ),
        ("limit", bomb, &["--max-bytes", "1048576"]),
    ];
    for (why, bytes, extra) in cases {
        let dir = tempfile::tempdir().unwrap();
        for to in ["diff", "tar", "json", "report"] {
            let mut args = vec!["pipe", "--to", to];
            args.extend_from_slice(extra);
            let (code, stdout, stderr) = casehard_with_input(dir.path(), &args, &bytes);
            assert_eq!(code, 2, "{why} ({to}): {stderr}");
            assert!(
                stdout.is_empty(),
                "{why} ({to}): something was written to stdout"
            );
            assert!(
                stderr.contains("refusing the archive, nothing was written"),
                "{why}: {stderr}"
            );
            assert!(stderr.contains(why), "{why}: {stderr}");
        }
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "{why}: nothing touches the disk"
        );
        assert!(!std::path::Path::new("/tmp/casehard-evil.ts").exists());
    }
}
