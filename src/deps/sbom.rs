//! A CycloneDX 1.5 software bill of materials from the lockfile: every package with its purl,
//! integrity hashes and scope, and the dependency graph. Deterministic: the same lockfile gives
//! the same bytes (no timestamp, no random serial number, sorted throughout).

use super::lockfile::{Lock, Package};
use super::{classify, Manifest, Section, Spec};
use base64::Engine as _;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// `pkg:npm/%40scope/name@1.2.3`.
pub fn purl(name: &str, version: &str) -> String {
    let name = name
        .strip_prefix('@')
        .map_or(name.to_string(), |n| format!("%40{n}"));
    format!("pkg:npm/{name}@{version}")
}

/// SRI strings (`sha512-<base64>`, possibly several) as CycloneDX hashes.
fn hashes(integrity: &str) -> Vec<Value> {
    integrity
        .split_whitespace()
        .filter_map(|sri| {
            let (alg, b64) = sri.split_once('-')?;
            let alg = match alg {
                "sha1" => "SHA-1",
                "sha256" => "SHA-256",
                "sha384" => "SHA-384",
                "sha512" => "SHA-512",
                _ => return None,
            };
            let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            Some(json!({ "alg": alg, "content": hex }))
        })
        .collect()
}

fn component(p: &Package) -> Value {
    let (group, name) = match p.name.strip_prefix('@').and_then(|n| n.split_once('/')) {
        Some((scope, name)) => (Some(format!("@{scope}")), name.to_string()),
        None => (None, p.name.clone()),
    };
    let reference = purl(&p.name, &p.version);
    let mut c = json!({
        "type": "library",
        "bom-ref": reference,
        "name": name,
        "version": p.version,
        "purl": reference,
        "scope": if p.dev { "excluded" } else if p.optional { "optional" } else { "required" },
    });
    if let Some(g) = group {
        c["group"] = json!(g);
    }
    let h = p.integrity.as_deref().map(hashes).unwrap_or_default();
    if !h.is_empty() {
        c["hashes"] = json!(h);
    }
    if let Some(url) = p.resolved.as_deref().filter(|u| u.starts_with("http")) {
        c["externalReferences"] = json!([{ "type": "distribution", "url": url }]);
    }
    c
}

/// The SBOM for the project whose root manifest is `root` and lockfile `lock`.
pub fn cyclonedx(root: &Manifest, lock: &Lock) -> String {
    // One component per name@version, however often the lockfile nests it.
    let mut packages: BTreeMap<String, &Package> = BTreeMap::new();
    for p in lock.packages.iter().filter(|p| !p.version.is_empty()) {
        let key = purl(&p.name, &p.version);
        let entry = packages.entry(key).or_insert(p);
        // A package that is a dev dependency somewhere and a runtime one elsewhere is required.
        if entry.dev && !p.dev {
            *entry = p;
        }
    }
    let known: BTreeSet<&String> = packages.keys().collect();
    let root_ref = format!("root:{}", root.name.as_deref().unwrap_or("project"));
    let direct: BTreeSet<String> = root
        .declared
        .iter()
        .filter(|d| {
            d.section != Section::PeerDependencies && !matches!(classify(&d.spec), Spec::Local)
        })
        .filter_map(|d| {
            let resolution = lock.resolve_spec("", &d.name, &d.spec)?;
            let (name, version) = match classify(&d.spec) {
                Spec::Alias { target, .. } => (
                    target,
                    resolution
                        .version
                        .rsplit('@')
                        .next()
                        .unwrap_or("")
                        .to_string(),
                ),
                _ => (d.name.clone(), resolution.version.clone()),
            };
            Some(purl(&name, &version))
        })
        .filter(|r| known.contains(r))
        .collect();
    let mut dependencies = vec![json!({ "ref": root_ref, "dependsOn": direct })];
    for (reference, p) in &packages {
        let on: BTreeSet<String> = p
            .depends_on
            .iter()
            .filter_map(|id| {
                let at = super::version_at(id)?;
                Some(purl(&id[..at], &id[at + 1..]))
            })
            .filter(|r| known.contains(r))
            .collect();
        dependencies.push(json!({ "ref": reference, "dependsOn": on }));
    }
    let mut metadata_component = json!({
        "type": "application",
        "bom-ref": root_ref,
        "name": root.name.as_deref().unwrap_or("project"),
    });
    if let Some(v) = &root.version {
        metadata_component["version"] = json!(v);
    }
    let bom = json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "version": 1,
        "metadata": {
            "tools": { "components": [{ "type": "application", "name": "casehard", "version": env!("CARGO_PKG_VERSION") }] },
            "component": metadata_component,
            "properties": [{ "name": "casehard:lockfile", "value": format!("{} ({})", lock.path, lock.format.label()) }],
        },
        "components": packages.values().map(|p| component(p)).collect::<Vec<_>>(),
        "dependencies": dependencies,
    });
    serde_json::to_string_pretty(&bom).expect("serializes") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purls_and_hashes() {
        assert_eq!(
            purl("@types/node", "20.1.0"),
            "pkg:npm/%40types/node@20.1.0"
        );
        assert_eq!(purl("zod", "3.25.76"), "pkg:npm/zod@3.25.76");
        let h = hashes("sha1-AAEC sha512-AAECAw==");
        assert_eq!(h[0], json!({ "alg": "SHA-1", "content": "000102" }));
        assert_eq!(h[1], json!({ "alg": "SHA-512", "content": "00010203" }));
    }
}
