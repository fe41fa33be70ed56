//! Embeds the declarative rules (patches/**/*.toml) and templates (templates/**/*.hbs) into the
//! binary, so casehard runs from any folder with its reviewed catalog.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn collect(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, ext, out);
        } else if path.to_string_lossy().ends_with(ext) {
            out.push(path);
        }
    }
}

fn embed(root: &Path, folder: &str, ext: &str, name: &str, code: &mut String) {
    let base = root.join(folder);
    println!("cargo:rerun-if-changed={}", base.display());
    let mut files = Vec::new();
    collect(&base, ext, &mut files);
    files.sort();
    writeln!(code, "pub static {name}: &[(&str, &str)] = &[").unwrap();
    for file in files {
        println!("cargo:rerun-if-changed={}", file.display());
        let rel = file
            .strip_prefix(&base)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let key = rel.strip_suffix(ext).unwrap();
        writeln!(
            code,
            "    ({key:?}, include_str!({:?})),",
            file.display().to_string()
        )
        .unwrap();
    }
    writeln!(code, "];").unwrap();
}

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let mut code = String::new();
    embed(&root, "patches", ".toml", "BUILTIN_RULES", &mut code);
    embed(&root, "templates", ".hbs", "BUILTIN_TEMPLATES", &mut code);
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("embedded.rs");
    std::fs::write(out, code).unwrap();
}
