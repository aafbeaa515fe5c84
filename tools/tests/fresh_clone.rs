//! The README's two set-up commands work on a fresh clone.
//!
//! The test clones the repository's committed HEAD into a temporary directory (a file that
//! was never committed is then missing, as on a newcomer's machine) and runs the README's demo
//! command there verbatim, with a target directory of its own. The README's test command is
//! not run recursively here: the test checks that it is the script that runs `cargo test
//! --workspace` and the Python tests, and that `.ci/run` runs that exact command; CI runs
//! `.ci/run` on a clean checkout, which is that command on a fresh clone.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The commands of the README's set-up block: the first ```sh block after "## Two commands".
fn setup_commands(readme: &str) -> Vec<String> {
    let section = readme
        .split("## Two commands")
        .nth(1)
        .expect("README has a '## Two commands' section");
    let block = section
        .split("```sh")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("the section has a ```sh block");
    block
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn readme_commands_work_on_a_fresh_clone() {
    let root = repo_root();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let commands = setup_commands(&readme);
    assert_eq!(commands.len(), 2, "two set-up commands: {commands:?}");
    let (demo, test) = (&commands[0], &commands[1]);
    assert!(demo.contains("walkdb") && demo.ends_with("demo"), "{demo}");
    // The test command is a script that runs the Rust tests and then the Python package's.
    let script = std::fs::read_to_string(root.join(test.as_str()))
        .unwrap_or_else(|e| panic!("the README's test command `{test}` is a script: {e}"));
    assert!(
        script.lines().any(|l| l.trim() == "cargo test --workspace"),
        "`{test}` runs `cargo test --workspace`"
    );
    assert!(
        script.lines().any(|l| l.trim() == "python/test.sh"),
        "`{test}` runs the Python tests"
    );

    // CI runs the README's test command verbatim.
    let ci = std::fs::read_to_string(root.join(".ci/run")).unwrap();
    assert!(
        ci.lines()
            .any(|l| l.trim().trim_start_matches("time ").trim() == test),
        ".ci/run must run `{test}`"
    );

    // A fresh clone of the committed HEAD runs the demo command.
    let dir = tempfile::tempdir().unwrap();
    let clone = dir.path().join("walkdb");
    if root.join(".git").exists() {
        let status = Command::new("git")
            .args(["clone", "--quiet", "--no-hardlinks"])
            .arg(&root)
            .arg(&clone)
            .status()
            .expect("git runs");
        assert!(status.success(), "git clone of the repository");
    } else {
        // Not a git checkout (an exported tree): copy it, minus build output.
        copy_tree(&root, &clone);
    }
    let mut words = demo.split_whitespace();
    let program = words.next().unwrap();
    let out = Command::new(program)
        .args(words)
        .current_dir(&clone)
        .env("CARGO_TARGET_DIR", dir.path().join("target"))
        .env_remove("CARGO_MANIFEST_DIR")
        .output()
        .expect("the demo command starts");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "`{demo}` failed in a fresh clone:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("new facts"), "{stdout}");
    assert!(stdout.contains("walkdb dump"), "{stdout}");
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "target" || name == ".git" {
            continue;
        }
        let path = entry.path();
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&path, &to.join(&name));
        } else {
            std::fs::copy(&path, to.join(&name)).unwrap();
        }
    }
}
