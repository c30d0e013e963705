//! Embeds the shipped `stdlib/` and `modes/` trees into the binary so that
//! `millrace` works from any directory. Generates `$OUT_DIR/embedded_assets.rs`,
//! a sorted table of (relative path, file bytes).

use std::fs;
use std::path::{Path, PathBuf};

fn collect(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect(root, &path, out);
        } else {
            out.push(path.strip_prefix(root).unwrap().to_path_buf());
        }
    }
}

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let mut files = Vec::new();
    for top in ["stdlib", "modes"] {
        println!("cargo:rerun-if-changed={top}");
        let dir = root.join(top);
        if dir.is_dir() {
            collect(&root, &dir, &mut files);
        }
    }
    files.sort_by_key(|p| p.to_string_lossy().replace('\\', "/"));
    let mut code = String::from("pub static EMBEDDED: &[(&str, &[u8])] = &[\n");
    for rel in &files {
        let rel_str = rel.to_string_lossy().replace('\\', "/");
        println!("cargo:rerun-if-changed={rel_str}");
        code.push_str(&format!(
            "    ({rel_str:?}, include_bytes!(concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/{rel_str}\"))),\n"
        ));
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("embedded_assets.rs");
    fs::write(out, code).unwrap();
}
