//! A project streamed in or out: a tar archive (ustar or pax, optionally gzip-compressed) or a
//! JSON file map `{"files": {"path": "text" | {"base64": "...", "mode": 493}}}`.
//!
//! Archives are untrusted. Refused, with the entry named and nothing written: absolute paths,
//! `..`, symbolic and hard links, device files and FIFOs, sparse files, duplicate paths (after
//! normalizing `./`), and archives that expand past the size or file-count limit.

use super::{checked_path, Workspace};
use crate::error::Error;
use base64::Engine as _;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use std::io::Read;

/// Limits on what an archive may expand to (a zip-bomb guard).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Total bytes of all files, after decompression.
    pub max_bytes: u64,
    pub max_files: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 512 * 1024 * 1024,
            max_files: 100_000,
        }
    }
}

fn refuse(entry: impl Into<String>, reason: impl Into<String>) -> Error {
    Error::Archive {
        entry: entry.into(),
        reason: reason.into(),
    }
}

/// Reads at most `limit` bytes; more is an error, not a truncation.
pub fn read_limited(mut input: impl Read, limit: u64, what: &str) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    (&mut input)
        .take(limit + 1)
        .read_to_end(&mut out)
        .map_err(|e| refuse(what, format!("cannot read: {e}")))?;
    if out.len() as u64 > limit {
        return Err(refuse(
            what,
            format!("expands past the limit of {limit} bytes (--max-bytes)"),
        ));
    }
    Ok(out)
}

/// Undoes gzip compression when the bytes start with its magic number.
fn gunzip_if_needed(bytes: Vec<u8>, limits: Limits) -> Result<Vec<u8>, Error> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        // A tar holds headers besides the data; leave room for them within the limit.
        let room = limits.max_bytes + 1024 * (limits.max_files as u64 + 2);
        read_limited(
            flate2::read::MultiGzDecoder::new(bytes.as_slice()),
            room,
            "gzip stream",
        )
    } else {
        Ok(bytes)
    }
}

/// Root `.gitignore` rules of an archive, applied to its other paths.
fn gitignore_of(files: &[(String, Vec<u8>, u32)]) -> Option<ignore::gitignore::Gitignore> {
    let (_, bytes, _) = files.iter().find(|(p, _, _)| p == ".gitignore")?;
    let mut builder = ignore::gitignore::GitignoreBuilder::new("");
    for line in String::from_utf8_lossy(bytes).lines() {
        let _ = builder.add_line(None, line);
    }
    builder.build().ok()
}

fn into_workspace(files: Vec<(String, Vec<u8>, u32)>) -> Workspace {
    let gitignore = gitignore_of(&files);
    let mut ws = Workspace::default();
    for (path, bytes, mode) in files {
        let ignored = gitignore
            .as_ref()
            .is_some_and(|g| g.matched_path_or_any_parents(&path, false).is_ignore());
        ws.add_from_archive(path, bytes, mode, ignored);
    }
    ws.set_aside_non_utf8_sources();
    ws.skipped.sort();
    ws
}

/// What an archive has let in so far; every entry passes the same checks.
struct Admitted {
    limits: Limits,
    files: Vec<(String, Vec<u8>, u32)>,
    seen: std::collections::BTreeSet<String>,
    total: u64,
}

impl Admitted {
    fn new(limits: Limits) -> Admitted {
        Admitted {
            limits,
            files: Vec::new(),
            seen: Default::default(),
            total: 0,
        }
    }

    /// The entry's checked path: inside the root, not seen before, within the file count.
    fn path(&mut self, name: &str) -> Result<String, Error> {
        let path = checked_path(name).map_err(|e| match e {
            Error::UnsafePath { reason, .. } => refuse(name, reason),
            other => other,
        })?;
        if !self.seen.insert(path.clone()) {
            return Err(refuse(name, "duplicate path"));
        }
        if self.seen.len() > self.limits.max_files {
            return Err(refuse(
                name,
                format!("more than {} files", self.limits.max_files),
            ));
        }
        Ok(path)
    }

    /// Counts `size` more bytes against the limit, before they are read.
    fn reserve(&mut self, name: &str, size: u64) -> Result<(), Error> {
        self.total = self.total.saturating_add(size);
        if self.total > self.limits.max_bytes {
            return Err(refuse(
                name,
                format!(
                    "the input expands past the limit of {} bytes (--max-bytes)",
                    self.limits.max_bytes
                ),
            ));
        }
        Ok(())
    }

    fn finish(self) -> Workspace {
        into_workspace(self.files)
    }
}

/// Reads a tar archive, gzip-compressed or not.
pub fn read_tar(bytes: Vec<u8>, limits: Limits) -> Result<Workspace, Error> {
    let bytes = gunzip_if_needed(bytes, limits)?;
    let mut archive = tar::Archive::new(bytes.as_slice());
    let entries = archive
        .entries()
        .map_err(|e| refuse("archive", e.to_string()))?;
    let mut admitted = Admitted::new(limits);
    for entry in entries {
        let mut entry =
            entry.map_err(|e| refuse("archive", format!("not a valid tar archive: {e}")))?;
        let raw = entry.path_bytes().into_owned();
        let name =
            String::from_utf8(raw).map_err(|_| refuse("archive", "an entry name is not UTF-8"))?;
        let kind = entry.header().entry_type();
        use tar::EntryType as T;
        match kind {
            T::XGlobalHeader => continue,
            T::Directory => {
                // `./` is the archive's own root (what `tar -C dir -cf - .` writes first).
                let dir = name.trim_end_matches('/');
                if dir != "." && !dir.is_empty() {
                    checked_path(dir).map_err(|e| refuse(&name, e.to_string()))?;
                }
                continue;
            }
            T::Regular | T::Continuous => {}
            T::Symlink => return Err(refuse(&name, "symbolic link")),
            T::Link => return Err(refuse(&name, "hard link")),
            T::Char | T::Block => return Err(refuse(&name, "device file")),
            T::Fifo => return Err(refuse(&name, "FIFO")),
            other => {
                return Err(refuse(
                    &name,
                    format!("unsupported entry type {:?}", other.as_byte() as char),
                ))
            }
        }
        let path = admitted.path(&name)?;
        let size = entry
            .header()
            .size()
            .map_err(|e| refuse(&name, e.to_string()))?;
        admitted.reserve(&name, size)?;
        let mode = entry.header().mode().unwrap_or(0o644) & 0o777;
        let mut data = Vec::with_capacity(size as usize);
        entry
            .read_to_end(&mut data)
            .map_err(|e| refuse(&name, e.to_string()))?;
        admitted.files.push((path, data, mode));
    }
    Ok(admitted.finish())
}

/// Writes every file (read and carried) as an ustar archive, in path order, with fixed
/// owner and time so the same project gives the same bytes.
pub fn write_tar(ws: &Workspace) -> Result<Vec<u8>, Error> {
    let mut builder = tar::Builder::new(Vec::new());
    builder.mode(tar::HeaderMode::Deterministic);
    for (path, entry) in ws.all_files() {
        let mut header = tar::Header::new_gnu();
        header.set_size(entry.bytes.len() as u64);
        header.set_mode(entry.mode);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        header.set_entry_type(tar::EntryType::Regular);
        builder
            .append_data(&mut header, path, entry.bytes.as_slice())
            .map_err(|e| refuse(path.as_str(), e.to_string()))?;
    }
    builder
        .into_inner()
        .map_err(|e| refuse("archive", e.to_string()))
}

/// A file in a JSON map: text, or base64 with an optional mode.
#[derive(Deserialize)]
#[serde(untagged)]
enum JsonFile {
    Text(String),
    Object(JsonFileObject),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonFileObject {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    base64: Option<String>,
    #[serde(default)]
    mode: Option<u32>,
}

/// The `files` map, read in order with duplicate keys kept (serde_json keeps the last).
struct Entries(Vec<(String, JsonFile)>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Entries;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map of path to file content")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries, A::Error> {
                let mut out = Vec::new();
                while let Some(kv) = map.next_entry::<String, JsonFile>()? {
                    out.push(kv);
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(V)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonMap {
    files: Entries,
}

/// Reads a JSON file map.
pub fn read_json(bytes: &[u8], limits: Limits) -> Result<Workspace, Error> {
    let map: JsonMap = serde_json::from_slice(bytes).map_err(|e| {
        refuse(
            "JSON file map",
            format!("line {}, column {}: {e}", e.line(), e.column()),
        )
    })?;
    let mut admitted = Admitted::new(limits);
    for (name, file) in map.files.0 {
        let path = admitted.path(&name)?;
        let (bytes, mode) = match file {
            JsonFile::Text(t) => (t.into_bytes(), 0o644),
            JsonFile::Object(o) => {
                let bytes =
                    match (o.text, o.base64) {
                        (Some(t), None) => t.into_bytes(),
                        (None, Some(b)) => base64::engine::general_purpose::STANDARD
                            .decode(b.trim())
                            .map_err(|e| refuse(&name, format!("invalid base64: {e}")))?,
                        _ => return Err(refuse(&name, "give exactly one of `text` and `base64`")),
                    };
                (bytes, o.mode.unwrap_or(0o644) & 0o777)
            }
        };
        admitted.reserve(&name, bytes.len() as u64)?;
        admitted.files.push((path, bytes, mode));
    }
    Ok(admitted.finish())
}

/// Writes every file as a JSON map: plain text as a string, anything else (binary, or a mode
/// other than 0644) as an object.
pub fn write_json(ws: &Workspace) -> String {
    let mut files = serde_json::Map::new();
    for (path, entry) in ws.all_files() {
        let value = match std::str::from_utf8(&entry.bytes) {
            Ok(text) if entry.mode == 0o644 => serde_json::Value::String(text.to_string()),
            Ok(text) => serde_json::json!({ "text": text, "mode": entry.mode }),
            Err(_) => serde_json::json!({
                "base64": base64::engine::general_purpose::STANDARD.encode(&entry.bytes),
                "mode": entry.mode,
            }),
        };
        files.insert(path.clone(), value);
    }
    serde_json::to_string_pretty(&serde_json::json!({ "files": files })).expect("serializes") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace::FileEntry;

    #[test]
    fn round_trips_through_tar_and_json() {
        let mut ws = Workspace::default();
        ws.insert("src/a.ts".into(), b"const a = 1;\n".to_vec(), 0o644);
        ws.passthrough.insert(
            "logo.png".into(),
            FileEntry {
                bytes: vec![0x89, 0, 1, 2],
                mode: 0o644,
            },
        );
        ws.insert("bin/run.sh".into(), b"#!/bin/sh\n".to_vec(), 0o755);
        let back = read_tar(write_tar(&ws).unwrap(), Limits::default()).unwrap();
        assert_eq!(back.files.get("src/a.ts").unwrap().bytes, b"const a = 1;\n");
        assert_eq!(back.files.get("bin/run.sh").unwrap().mode, 0o755);
        assert_eq!(
            back.passthrough.get("logo.png").unwrap().bytes,
            vec![0x89, 0, 1, 2]
        );
        let json = write_json(&ws);
        let again = read_json(json.as_bytes(), Limits::default()).unwrap();
        assert_eq!(
            again.passthrough.get("logo.png").unwrap().bytes,
            vec![0x89, 0, 1, 2]
        );
        assert_eq!(again.files.get("bin/run.sh").unwrap().mode, 0o755);
        assert_eq!(write_json(&again), json);
    }

    #[test]
    fn refuses_hostile_json_maps() {
        let e = read_json(
            br#"{"files": {"a.ts": "1", "./a.ts": "2"}}"#,
            Limits::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("duplicate path"), "{e}");
        let e = read_json(br#"{"files": {"../x": "1"}}"#, Limits::default()).unwrap_err();
        assert!(e.to_string().contains("`..`"), "{e}");
        let e = read_json(br#"{"files": {}, "extra": 1}"#, Limits::default()).unwrap_err();
        assert!(e.to_string().contains("extra"), "{e}");
        let e = read_json(br#"{"files": {"a": {"base64": "!!"}}}"#, Limits::default()).unwrap_err();
        assert!(e.to_string().contains("invalid base64"), "{e}");
    }

    #[test]
    fn gitignored_and_dependency_files_are_carried_not_read() {
        let ws = read_json(
            br#"{"files": {".gitignore": "secret/\n", "secret/x.ts": "a", "node_modules/p/i.js": "b", "src/a.ts": "c"}}"#,
            Limits::default(),
        )
        .unwrap();
        assert!(ws.files.contains_key("src/a.ts"));
        assert!(ws.passthrough.contains_key("secret/x.ts"));
        assert!(ws.passthrough.contains_key("node_modules/p/i.js"));
    }
}
