//! Shared test support: the binary with fake agents on `PATH`, and a
//! workspace harness for behaviour tests. Each test binary uses part of it.
#![allow(dead_code)]

pub mod cli;
pub mod harness;
pub mod model_server;

use assert_cmd::cargo::CommandCargoExt;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The `millrace` binary with `tests/fakes/bin` (a fake `codex`) first on
/// `PATH`, so a default workspace's runner resolves as it would for a user.
pub fn millrace_cmd() -> Command {
    let fakes = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fakes/bin");
    let path = format!(
        "{}:{}",
        fakes.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::cargo_bin("millrace").unwrap();
    cmd.env("PATH", path);
    cmd
}

/// The names of the entries of `dir`, sorted; none when it cannot be read.
pub fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Wait until `cond` holds: up to a minute, a guard against hangs, not a
/// timing claim; `what` names it when the wait times out.
pub fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Copy the tree `from` to `to` (made when missing).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), &dest).unwrap();
        }
    }
}

/// Every entry under `root` (links not followed) with its bytes, `None`
/// for a directory: two calls compare equal when nothing was written.
pub fn tree(root: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().filter_map(Result::ok) {
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                out.insert(p.clone(), None);
                stack.push(p);
            } else {
                let bytes = std::fs::read(&p).unwrap_or_default();
                out.insert(p, Some(bytes));
            }
        }
    }
    out
}
