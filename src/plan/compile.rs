//! The compile pipeline: load the `.mill` sources (a workspace's
//! `millrace-agents/mill/` tree, or the embedded ones), check them, lower the
//! requested mode with the effective config, resolve the assets it uses and
//! fingerprint everything. Nothing here writes files (see `persist`).

use super::config_check;
use super::fingerprint;
use super::ir::{AssetRef, CompileInput, CompiledPlan};
use super::lower::{self, EffectiveConfig};
use crate::language::check::{self, Checked};
use crate::language::diagnostic::Severity;
use crate::language::load::{self, Loader, Program, StdRoot};
use crate::language::source::Origin;
use crate::workspace::layout::Layout;
use crate::workspace::{config, safe_fs};
use std::collections::BTreeSet;
use std::path::Path;

/// Where the plan's sources and referenced files come from.
#[derive(Debug, Clone)]
pub enum AssetRoot {
    /// The shipped assets inside the binary (no workspace).
    Embedded,
    /// A workspace: sources under `millrace-agents/mill/`, files under `millrace-agents/`.
    Workspace(Layout),
}

impl AssetRoot {
    /// Bytes of a file named relative to `millrace-agents/` (entrypoints, skills, mill/...).
    pub fn read(&self, rel: &str) -> Option<Vec<u8>> {
        match self {
            AssetRoot::Embedded => {
                let shipped = if let Some(rest) = rel.strip_prefix("mill/") {
                    rest.to_string()
                } else {
                    format!("stdlib/{rel}")
                };
                crate::assets::get(&shipped).map(<[u8]>::to_vec)
            }
            AssetRoot::Workspace(l) => {
                let path = l.runtime.join(rel);
                safe_fs::read_capped(&path, safe_fs::MAX_STATE_BYTES).ok()
            }
        }
    }
}

/// Everything one compile produced: the loaded program and its diagnostics,
/// and either a plan or the one-line errors that prevented it.
pub struct CompileOutcome {
    pub program: Program,
    pub checked: Checked,
    /// The mode id after alias resolution (or as requested, if unknown).
    pub mode_id: String,
    pub plan: Option<CompiledPlan>,
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
    /// The fingerprint of the inputs, when the config could be read.
    pub input: Option<CompileInput>,
}

/// The config of a root: the workspace's `millrace.toml`, or the defaults.
pub fn effective_config(root: &AssetRoot) -> Result<EffectiveConfig, super::Error> {
    match root {
        AssetRoot::Embedded => Ok(EffectiveConfig::default()),
        AssetRoot::Workspace(l) => {
            let path = l.config_file();
            let text = std::fs::read_to_string(&path)
                .map_err(|e| crate::workspace::Error::io(&path, e))?;
            let config =
                config::parse_config(&text).map_err(|error| crate::workspace::Error::Config {
                    path: path.clone(),
                    error,
                })?;
            Ok(EffectiveConfig {
                config,
                explicit_recovery: config::explicit_recovery_keys(&text),
                text,
            })
        }
    }
}

/// Load and check the sources of a root.
pub fn load_sources(root: &AssetRoot) -> Result<Program, super::Error> {
    match root {
        AssetRoot::Embedded => {
            let mut loader = Loader::new(StdRoot::Embedded);
            loader.load_embedded_all();
            Ok(loader.finish())
        }
        AssetRoot::Workspace(l) => {
            let mill = l.runtime.join("mill");
            let mut loader = Loader::new(StdRoot::Dir(mill.join("stdlib")));
            let files = load::expand_paths(std::slice::from_ref(&mill))
                .map_err(crate::language::Error::from)?;
            for f in files {
                loader.load_path(&f).map_err(crate::language::Error::from)?;
            }
            Ok(loader.finish())
        }
    }
}

/// A stable name for a source file: relative to `millrace-agents/` in a
/// workspace (`mill/modes/x.mill`), or the shipped path (`mill/stdlib/...`).
fn source_name(program: &Program, root: &AssetRoot, file: usize) -> String {
    let f = program.sources.get(file);
    match (&f.origin, root) {
        (Origin::Disk(p), AssetRoot::Workspace(l)) => p
            .strip_prefix(&l.runtime)
            .map(|r| r.to_string_lossy().replace('\\', "/"))
            .unwrap_or_else(|_| p.display().to_string()),
        (Origin::Disk(p), AssetRoot::Embedded) => p.display().to_string(),
        (Origin::Embedded, _) => format!("mill/{}", f.name),
    }
}

fn diag_line(
    program: &Program,
    root: &AssetRoot,
    d: &crate::language::diagnostic::Diagnostic,
) -> String {
    let at = |span: crate::language::source::Span| {
        let lc = program.sources.line_col(span);
        format!(
            "{}:{}:{}",
            source_name(program, root, span.file),
            lc.line,
            lc.column
        )
    };
    // The same facts `lint` shows: the message, each label, and the help.
    let mut text = format!("{}: {}: {}", at(d.primary.span), d.code, d.message);
    if !d.primary.message.is_empty() {
        text.push_str(&format!("\n  = {}", d.primary.message));
    }
    for l in &d.secondary {
        text.push_str(&format!("\n  = {}: {}", at(l.span), l.message));
    }
    if !d.help.is_empty() {
        text.push_str(&format!("\n  help: {}", d.help));
    }
    text
}

/// Compile one mode. `mode` is the requested mode (or alias); `None` means
/// the config's `runtime.default_mode`.
pub fn compile(root: &AssetRoot, mode: Option<&str>) -> CompileOutcome {
    let empty = || CompileOutcome {
        program: Program::default(),
        checked: Checked {
            model: Default::default(),
            diagnostics: vec![],
        },
        mode_id: mode.unwrap_or("default_codex").to_string(),
        plan: None,
        errors: vec![],
        warnings: vec![],
        input: None,
    };
    let cfg = match effective_config(root) {
        Ok(c) => c,
        Err(e) => {
            let mut out = empty();
            out.errors.push(e.to_string());
            return out;
        }
    };
    let requested = mode
        .map(str::to_string)
        .unwrap_or_else(|| cfg.config.runtime.default_mode.clone());
    let program = match load_sources(root) {
        Ok(p) => p,
        Err(e) => {
            let mut out = empty();
            out.mode_id = requested;
            out.errors.push(e.to_string());
            return out;
        }
    };
    let from_config = mode.is_none().then(|| cfg.text.clone());
    let mut out = compile_program(root, program, cfg, &requested);
    if let Some(text) = from_config {
        let model = &out.checked.model;
        if let Some(e) = out
            .errors
            .iter_mut()
            .find(|e| e.starts_with("Unknown mode id: "))
        {
            *e = config_check::unknown_mode(model, &requested, Some(&text));
        }
    }
    out
}

/// Compile one mode of an already loaded program (`millrace test` loads
/// edited copies of the stdlib this way); `root` resolves the files the
/// plan names.
pub fn compile_program(
    root: &AssetRoot,
    program: Program,
    cfg: EffectiveConfig,
    requested: &str,
) -> CompileOutcome {
    let requested = requested.to_string();
    let checked = check::check(&program);
    let mut out = CompileOutcome {
        mode_id: requested.clone(),
        plan: None,
        errors: vec![],
        warnings: vec![],
        input: None,
        program,
        checked,
    };
    // A broken file stops only the modes that can see it: when the mode
    // resolved, an error wholly in files it does not import is a warning.
    let visible = out
        .checked
        .model
        .resolve_mode(&requested)
        .map(|m| out.program.visible_from(m.span.file));
    for d in &out.checked.diagnostics {
        let line = diag_line(&out.program, root, d);
        let concerns_mode = visible.as_ref().is_none_or(|v| {
            std::iter::once(&d.primary)
                .chain(&d.secondary)
                .any(|l| v.contains(&l.span.file))
        });
        match d.severity {
            Severity::Error if concerns_mode => out.errors.push(line),
            Severity::Error => out
                .warnings
                .push(format!("{line} (in a file this mode does not import)")),
            Severity::Warning => out.warnings.push(line),
        }
    }
    let config_fp = fingerprint::config_fingerprint(&cfg.config, &cfg.explicit_recovery);
    let Some(mode) = out.checked.model.resolve_mode(&requested).cloned() else {
        if out.errors.is_empty() {
            out.errors.push(config_check::unknown_mode(
                &out.checked.model,
                &requested,
                None,
            ));
        }
        out.input = Some(CompileInput {
            mode_id: requested,
            config_fingerprint: config_fp,
            assets_fingerprint: "assets-missing".into(),
        });
        return out;
    };
    out.mode_id = mode.id.clone();
    if !out.errors.is_empty() {
        out.input = Some(CompileInput {
            mode_id: mode.id.clone(),
            config_fingerprint: config_fp,
            assets_fingerprint: "assets-missing".into(),
        });
        return out;
    }
    let name_of = |f: usize| source_name(&out.program, root, f);
    let mut plan = match lower::lower(
        &out.checked.model,
        &mode,
        &cfg,
        &out.program.sources,
        &name_of,
    ) {
        Ok(p) => p,
        Err(errs) => {
            out.errors.extend(errs);
            out.input = Some(CompileInput {
                mode_id: mode.id.clone(),
                config_fingerprint: config_fp,
                assets_fingerprint: "assets-missing".into(),
            });
            return out;
        }
    };
    if let AssetRoot::Workspace(l) = root {
        out.errors.extend(runner_settings_errors(&plan, &cfg, l));
    }
    let (errors, warnings) = config_check::permission_keys(&out.checked.model, &plan, &cfg);
    out.errors.extend(errors);
    out.warnings.extend(warnings);
    out.warnings.extend(config_check::overridden_by_mode(
        &mode,
        &plan,
        &cfg,
        &out.program.sources,
        &name_of,
    ));
    // The assets: the .mill files the mode's file can see, then every
    // entrypoint and skill its nodes name.
    let mut assets: Vec<AssetRef> = Vec::new();
    for f in out.program.visible_from(mode.span.file) {
        let text = out.program.sources.get(f).text.as_bytes();
        assets.push(AssetRef {
            family: "mill".into(),
            path: name_of(f),
            content_blake3: fingerprint::content_hash(Some(text)),
        });
    }
    let mut seen = BTreeSet::new();
    for g in plan.graphs_by_plane.values() {
        for n in &g.nodes {
            let files = std::iter::once(("entrypoint", &n.entrypoint_path))
                .chain(n.required_skill_paths.iter().map(|s| ("skill", s)))
                .chain(n.attached_skill_paths.iter().map(|s| ("skill", s)));
            for (family, path) in files {
                if seen.insert(path.clone()) {
                    assets.push(AssetRef {
                        family: family.into(),
                        path: path.clone(),
                        content_blake3: fingerprint::content_hash(root.read(path).as_deref()),
                    });
                }
            }
        }
    }
    assets.sort_by(|a, b| (&a.family, &a.path).cmp(&(&b.family, &b.path)));
    let missing: Vec<&str> = assets
        .iter()
        .filter(|a| a.content_blake3 == "missing" && a.family == "entrypoint")
        .map(|a| a.path.as_str())
        .collect();
    if !missing.is_empty() {
        out.errors
            .push(format!("missing entrypoint files: {}", missing.join(", ")));
    }
    for a in assets
        .iter()
        .filter(|a| a.content_blake3 == "missing" && a.family == "skill")
    {
        out.warnings
            .push(format!("skill file not found: {}", a.path));
    }
    let input = CompileInput {
        mode_id: mode.id.clone(),
        config_fingerprint: config_fp,
        assets_fingerprint: fingerprint::assets_fingerprint(&assets),
    };
    plan.resolved_assets = assets;
    plan.compile_input_fingerprint = input.clone();
    plan.compiled_plan_id = fingerprint::plan_id(&plan);
    out.input = Some(input);
    if out.errors.is_empty() {
        out.plan = Some(plan);
    }
    out
}

/// What the runners the plan's nodes use need from the workspace config: the
/// `command` runner an argv, and a `script` file (when one is configured)
/// that parses and whose keys each name a node or stage kind of the plan.
fn runner_settings_errors(
    plan: &CompiledPlan,
    effective: &EffectiveConfig,
    l: &Layout,
) -> Vec<String> {
    let cfg = &effective.config;
    let at = |table: &str, key: &str| {
        config::line_of(&effective.text, table, key)
            .or_else(|| config::line_of(&effective.text, table, ""))
            .map(|n| format!("millrace.toml line {n}: "))
            .unwrap_or_default()
    };
    let nodes: Vec<&super::ir::CompiledNode> = plan
        .graphs_by_plane
        .values()
        .flat_map(|g| g.nodes.iter())
        .collect();
    let using = |runner: &str| -> Vec<&str> {
        nodes
            .iter()
            .filter(|n| n.runner_name == runner)
            .map(|n| n.node_id.as_str())
            .collect()
    };
    let mut errors = Vec::new();
    let command = using("command");
    if !command.is_empty() && cfg.runners.command.argv.is_empty() {
        errors.push(format!(
            "{}runner command (used by {}) needs `argv` in [runners.command] of millrace.toml: set the agent command to run, e.g. argv = [\"my-agent\", \"{{prompt_file}}\"]",
            at("runners.command", "argv"),
            command.join(", ")
        ));
    }
    if let (false, Some(path)) = (using("script").is_empty(), &cfg.runners.script.path) {
        let p = l.root.join(path);
        // An unreadable or invalid script file is one lint line.
        let unusable = |e: &dyn std::fmt::Display| {
            format!(
                "{}[runners.script] path: script file {}: {e}",
                at("runners.script", "path"),
                p.display()
            )
        };
        let parsed = std::fs::read_to_string(&p).map(|t| crate::runners::script::Script::parse(&t));
        match parsed {
            Err(e) => errors.push(unusable(&e)),
            Ok(Err(e)) => errors.push(unusable(&e)),
            Ok(Ok(script)) => {
                let known: BTreeSet<&str> = nodes
                    .iter()
                    .flat_map(|n| [n.node_id.as_str(), n.stage_kind_id.as_str()])
                    .collect();
                for key in script.stages.keys().filter(|k| !known.contains(k.as_str())) {
                    let hint = crate::language::check::suggest(key, known.iter().copied())
                        .map(|s| format!("did you mean `{s}`?"))
                        .unwrap_or_else(|| {
                            format!(
                                "the plan's nodes: {}",
                                known.iter().copied().collect::<Vec<_>>().join(", ")
                            )
                        });
                    errors.push(format!(
                        "script file {}: key `{key}` names no node or stage kind of mode {}: {hint}",
                        p.display(),
                        plan.mode_id
                    ));
                }
            }
        }
    }
    errors
}

/// The assets fingerprint of a persisted plan's asset list against the files as they are now.
pub fn current_assets_fingerprint(root: &AssetRoot, assets: &[AssetRef]) -> (String, Vec<String>) {
    let mut changed = Vec::new();
    let now: Vec<AssetRef> = assets
        .iter()
        .map(|a| {
            let content = fingerprint::content_hash(root.read(&a.path).as_deref());
            if content != a.content_blake3 {
                changed.push(a.path.clone());
            }
            AssetRef {
                content_blake3: content,
                ..a.clone()
            }
        })
        .collect();
    (fingerprint::assets_fingerprint(&now), changed)
}

/// A workspace root if `dir` is an initialized workspace.
pub fn workspace_root(dir: &Path) -> Result<AssetRoot, super::Error> {
    let layout = Layout::new(dir);
    layout.require_initialized()?;
    Ok(AssetRoot::Workspace(layout))
}
