//! The files a release and a newcomer need, checked against the code they
//! describe: the licenses the manifest names, the security policy and the
//! architecture map (every path they link to exists), and the README's list
//! of core dependencies (the manifest's non-optional ones, no more).

use std::path::Path;

fn read(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The `(...)` targets of Markdown links in `text` that point into the
/// repository (no scheme, no anchor-only link).
fn local_links(text: &str) -> Vec<&str> {
    text.split("](")
        .skip(1)
        .filter_map(|rest| rest.split(')').next())
        .map(|target| target.split('#').next().unwrap_or(target))
        .filter(|target| !target.is_empty() && !target.contains("://"))
        .collect()
}

/// Names of the manifest's `[dependencies]` (and target-specific ones)
/// that are not optional: what every build of the crate pulls in.
fn core_dependencies(manifest: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut in_dependencies = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_dependencies = line == "[dependencies]"
                || (line.starts_with("[target.") && line.ends_with(".dependencies]"));
            continue;
        }
        if !in_dependencies || line.starts_with('#') || line.contains("optional = true") {
            continue;
        }
        if let Some((name, _)) = line.split_once('=') {
            names.push(name.trim().to_string());
        }
    }
    names
}

/// The words of `text`, as crate names are spelled.
fn words(text: &str) -> Vec<&str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .filter(|w| !w.is_empty())
        .collect()
}

#[test]
fn both_licenses_the_manifest_names_are_there() {
    assert!(read("Cargo.toml").contains("license = \"MIT OR Apache-2.0\""));
    let mit = read("LICENSE-MIT");
    assert!(mit.starts_with("MIT License\n\nCopyright (c) "), "{mit}");
    assert!(mit.contains("Permission is hereby granted, free of charge"));
    let apache = read("LICENSE-APACHE");
    assert!(apache.contains("Apache License\n                        Version 2.0, January 2004"));
    assert!(apache.contains("END OF TERMS AND CONDITIONS"));
    let readme = read("README.md");
    assert!(readme.contains("\n## License\n"));
    for file in [
        "LICENSE-MIT",
        "LICENSE-APACHE",
        "SECURITY.md",
        "ARCHITECTURE.md",
    ] {
        // crates.io resolves a relative link against a repository URL, which
        // the manifest does not name: the README links to the file as
        // docs.rs serves it from the published package.
        assert!(
            readme.contains(&format!("]({PACKAGE_SOURCE}{file})")),
            "README.md links to {file} on docs.rs"
        );
    }
}

/// Where docs.rs shows a file of the published package.
const PACKAGE_SOURCE: &str = "https://docs.rs/crate/weixin/latest/source/";

#[test]
fn the_readme_has_no_link_that_breaks_on_crates_io() {
    let readme = read("README.md");
    assert_eq!(
        local_links(&readme),
        Vec::<&str>::new(),
        "relative links do not resolve on crates.io or docs.rs"
    );
    let manifest = read("Cargo.toml");
    for link in readme.split(PACKAGE_SOURCE).skip(1) {
        let file = link.split(')').next().unwrap();
        assert!(
            Path::new(env!("CARGO_MANIFEST_DIR")).join(file).exists(),
            "README.md links to {file}, which is gone"
        );
        // docs.rs serves what the published package holds, and only that.
        assert!(
            manifest.contains(&format!("\"/{file}\",")),
            "README.md links to {file} on docs.rs, but the package's `include` leaves it out"
        );
    }
}

#[test]
fn security_and_architecture_link_only_to_files_that_exist() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for doc in ["SECURITY.md", "ARCHITECTURE.md"] {
        let text = read(doc);
        let links = local_links(&text);
        assert!(links.len() > 5, "{doc} links to the code it describes");
        for link in links {
            assert!(
                root.join(link).exists(),
                "{doc} links to {link}, which is gone"
            );
        }
        // Paths named in backquotes (`tests/errors.rs`) must exist too.
        for named in text.split('`').skip(1).step_by(2) {
            if (named.starts_with("src/") || named.starts_with("tests/"))
                && !named.contains([' ', '*'])
            {
                assert!(
                    root.join(named).exists(),
                    "{doc} names {named}, which is gone"
                );
            }
        }
    }
    assert!(read("SECURITY.md").contains("placeholder"));
}

#[test]
fn the_readme_names_the_real_core_dependencies() {
    let manifest = read("Cargo.toml");
    let core = core_dependencies(&manifest);
    assert!(
        core.contains(&"ureq".to_string()) && core.len() > 10,
        "{core:?}"
    );
    let readme = read("README.md");
    let start = readme
        .find("Core dependencies")
        .expect("the README lists its core dependencies");
    // The sentence ends with its bullet: at the next bullet or paragraph.
    let rest = &readme[start..];
    let end = [rest.find("\n- "), rest.find("\n\n")]
        .into_iter()
        .flatten()
        .min()
        .unwrap();
    let sentence = &readme[start..start + end];
    let named = words(sentence);
    for dependency in &core {
        assert!(
            named.contains(&dependency.as_str()),
            "the README's core dependencies miss {dependency}: {sentence}"
        );
    }
    // And no optional dependency is listed as a core one.
    let all = core_dependencies(&manifest.replace("optional = true", ""));
    for optional in all.iter().filter(|d| !core.contains(d)) {
        assert!(
            !named.contains(&optional.as_str()),
            "the README lists optional {optional} as a core dependency: {sentence}"
        );
    }
}

/// The README's examples build JSON with `serde_json::json!`: a user's
/// project needs `serde_json` itself, and the README says so.
#[test]
fn the_readme_says_its_examples_need_serde_json() {
    let readme = read("README.md");
    let one_process = &readme[readme.find("\n## One process\n").unwrap()..];
    let one_process = &one_process[..one_process[1..].find("\n## ").unwrap()];
    assert!(one_process.contains("serde_json::json!"));
    assert!(
        one_process.contains("needs `serde_json` as a dependency of your\nproject"),
        "{one_process}"
    );
    // "Testing your own code" uses it too, from its `[dev-dependencies]`.
    assert!(readme.contains("\nserde_json = \"1\""));
}
