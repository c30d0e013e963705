//! The language front end cannot be turned against the host: imports read
//! only regular `.mill` files under a size cap (no device, FIFO or `/proc`
//! file is read or quoted), and every graph walk is iterative, so very large
//! or very deep loops are analysed without overflowing the stack.

use assert_cmd::Command;
use std::path::Path;
use std::time::Duration;

mod support;
use support::cli::assert_has;

/// A guard against hangs (a FIFO read would block forever), not a speed check.
const HANG_GUARD: Duration = Duration::from_secs(120);

fn lint(dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::cargo_bin("millrace")
        .unwrap()
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .timeout(HANG_GUARD)
        .arg("lint")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn dev_zero_is_never_read() {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink("/dev/zero", dir.path().join("zero.mill")).unwrap();
    std::fs::write(
        dir.path().join("a.mill"),
        "import \"/dev/zero\"\nimport \"zero.mill\"\n",
    )
    .unwrap();
    let (code, out, _) = lint(dir.path(), &["a.mill", "--format", "json"]);
    assert_eq!(code, Some(1), "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let d = v["diagnostics"].as_array().unwrap();
    assert_eq!(d.len(), 2, "{out}");
    assert_eq!(d[0]["code"], "mill::import-not-mill");
    assert_eq!(d[0]["line"], 1);
    assert_eq!(d[1]["code"], "mill::io");
    assert!(
        d[1]["message"].as_str().unwrap().contains("a device"),
        "{out}"
    );
    // Named on the command line, it is refused too.
    let (code, _, err) = lint(dir.path(), &["/dev/zero"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("is not a .mill file"), "{err}");
    let (code, _, err) = lint(dir.path(), &["zero.mill"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("not a regular file (it is a device)"), "{err}");
}

#[test]
fn a_fifo_does_not_hang_the_loader() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe.mill");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    std::fs::write(dir.path().join("a.mill"), "import \"pipe.mill\"\n").unwrap();
    let (code, out, _) = lint(dir.path(), &["a.mill"]);
    assert_eq!(code, Some(1), "{out}");
    assert_has(&out, &["mill::io", "is not a regular file (it is a FIFO)"]);
    let (code, _, err) = lint(dir.path(), &["pipe.mill"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("(it is a FIFO)"), "{err}");
}

#[test]
fn proc_self_environ_is_never_quoted() {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink("/proc/self/environ", dir.path().join("env.mill")).unwrap();
    std::fs::write(
        dir.path().join("a.mill"),
        "import \"/proc/self/environ\"\nimport \"env.mill\"\n",
    )
    .unwrap();
    let secret = "s3cr3t-canary-value-4711";
    for format in ["human", "github", "json"] {
        let out = Command::cargo_bin("millrace")
            .unwrap()
            .current_dir(dir.path())
            .env("NO_COLOR", "1")
            .env("MILL_TEST_CANARY", secret)
            .timeout(HANG_GUARD)
            .args(["lint", "a.mill", "--format", format])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!all.contains(secret), "{format}: {all}");
        assert!(!all.contains("MILL_TEST_CANARY"), "{format}: {all}");
        assert!(all.contains("import-not-mill"), "{format}: {all}");
        assert!(
            all.contains("mill::io") || all.contains("mill%3A%3Aio"),
            "{format}: {all}"
        );
    }
}

#[test]
fn files_over_the_size_cap_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cap = millrace::language::load::MAX_SOURCE_BYTES as usize;
    let mut big = String::with_capacity(cap + 100);
    while big.len() <= cap {
        big.push_str("// padding padding padding padding padding padding padding\n");
    }
    std::fs::write(dir.path().join("big.mill"), &big).unwrap();
    std::fs::write(dir.path().join("a.mill"), "import \"big.mill\"\n").unwrap();
    let (code, out, _) = lint(dir.path(), &["a.mill"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("is larger than 1024 KiB"), "{out}");
    assert!(!out.contains("padding"), "{out}");
    let (code, _, err) = lint(dir.path(), &["big.mill"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("is larger than 1024 KiB"), "{err}");
}

/// A stage kind with one success outcome, for generated loops.
const STEP: &str = "stage step {\n  plane execution\n  display \"Step\"\n  entrypoint \"entrypoints/execution/builder.md\"\n  outcomes {\n    NEXT    => success\n    AGAIN   => success\n    BLOCKED => blocked | recoverable_failure\n  }\n  emits stage_result\n  idempotence retry_safe_with_key\n  starts tasks\n}\n";

/// A ring of `n` nodes: each passes to the next, the last back to the first,
/// that back edge counted by one threshold `after`.
fn ring(n: usize, after: u32) -> String {
    let mut s = String::from(STEP);
    s.push_str("loop big.ring on execution {\n  nodes ");
    let names: Vec<String> = (0..n).map(|i| format!("n{i}: step")).collect();
    s.push_str(&names.join(", "));
    s.push_str("\n  entry task -> n0\n");
    for i in 0..n {
        let next = if i + 1 == n {
            "n0".to_string()
        } else {
            format!("n{}", i + 1)
        };
        let again = if i + 1 == n { "n0" } else { "terminal done" };
        s.push_str(&format!(
            "  n{i} NEXT -> {} AGAIN -> {again} BLOCKED -> terminal stuck\n",
            if i + 1 == n {
                "terminal done".to_string()
            } else {
                next
            }
        ));
    }
    s.push_str(&format!(
        "  threshold big.ring.limit {{ counter lap_count on AGAIN from n{} after {after} -> terminal done }}\n",
        n - 1
    ));
    s.push_str("  terminal done success\n  terminal stuck blocked\n}\n");
    s
}

#[test]
fn a_ring_of_twenty_with_after_1000_gets_a_bound() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ring.mill"), ring(20, 1000)).unwrap();
    let (code, out, err) = lint(dir.path(), &["ring.mill"]);
    assert_eq!(code, Some(0), "{out}{err}");
    // 1001 laps of 20 stages each: the exact worst case.
    assert_has(
        &out,
        &["bound: big.ring: at most 20020 stage runs per work item (task 20020)"],
    );
}

#[test]
fn a_ten_thousand_node_loop_lints_without_crashing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ring.mill"), ring(10_000, 1)).unwrap();
    let (code, out, err) = lint(dir.path(), &["ring.mill"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert_has(&out, &["bound: big.ring: at most 20000 stage runs"]);
}

#[test]
fn a_ten_thousand_node_unbounded_cycle_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    // Without the threshold the back edge is a plain route: one huge cycle.
    let text = ring(10_000, 1)
        .lines()
        .filter(|l| !l.contains("threshold"))
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(dir.path().join("ring.mill"), text).unwrap();
    let (code, out, err) = lint(dir.path(), &["ring.mill", "--format", "json"]);
    assert_eq!(code, Some(1), "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let d = v["diagnostics"].as_array().unwrap();
    assert_eq!(d.len(), 1, "{out}");
    assert_eq!(d[0]["code"], "mill::unbounded-cycle");
    assert!(
        d[0]["message"]
            .as_str()
            .unwrap()
            .contains("(9988 more steps)"),
        "{out}"
    );
}

#[test]
fn a_long_inheritance_chain_checks() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = String::from(
        "import \"std/loops/execution.mill\"\nimport \"std/loops/planning.mill\"\n\
         mode m0 {\n  loops { execution: execution.standard, planning: planning.standard }\n}\n",
    );
    for i in 1..5_000 {
        s.push_str(&format!("mode m{i} extends m{} {{}}\n", i - 1));
    }
    std::fs::write(dir.path().join("chain.mill"), s).unwrap();
    let (code, out, err) = lint(dir.path(), &["chain.mill"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("5000 modes"), "{out}");
}

#[test]
fn a_directory_link_cycle_does_not_trap_the_walk() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    std::os::unix::fs::symlink("..", sub.join("up")).unwrap();
    std::fs::write(sub.join("a.mill"), "import \"std/stages/execution.mill\"\n").unwrap();
    let (code, out, err) = lint(dir.path(), &["."]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("ok: 2 files checked"), "{out}");
}

#[test]
fn a_coarse_bound_is_marked_an_upper_estimate_on_both_lines() {
    let dir = tempfile::tempdir().unwrap();
    // 300 nodes × 1001 counter values: past the exact search's 200,000
    // states, so the bound is the coarse one, for the loop and for a mode
    // that retunes its threshold alike.
    let mut text = ring(300, 1000);
    text.push_str("\nmode wide {\n  loops { execution: big.ring }\n  threshold lap_count 999\n}\n");
    std::fs::write(dir.path().join("ring.mill"), text).unwrap();
    let (code, out, err) = lint(dir.path(), &["ring.mill"]);
    assert_eq!(code, Some(0), "{out}{err}");
    let bound_lines: Vec<&str> = out.lines().filter(|l| l.starts_with("bound: ")).collect();
    assert_eq!(bound_lines.len(), 2, "{out}");
    assert!(
        bound_lines[0].starts_with("bound: mode wide: big.ring: at most "),
        "{out}"
    );
    for line in bound_lines {
        assert!(line.ends_with(" [upper estimate]"), "{out}");
    }
}
