//! `millrace-agents/millrace.toml`: the bootstrap text `init` writes (the
//! reference's exact content) and a typed read of the keys this layer needs.
//! The full configuration model belongs to the `config` commands.

use std::path::Path;

/// The file `init` writes, byte-identical to the reference's bootstrap config.
pub const BOOTSTRAP_TOML: &str = "[runtime]\ndefault_mode = \"default_codex\"\nrun_style = \"daemon\"\n\n[runners.codex]\npermission_default = \"maximum\"\n";

/// The keys of `[runtime]` the workspace layer reads.
#[derive(Debug, Clone, PartialEq)]
pub struct RuntimeConfig {
    pub default_mode: String,
    pub run_style: String,
    /// The whole document, for other layers.
    pub table: toml::Table,
}

/// Read and check `millrace.toml`. Errors are one line naming the file.
pub fn load(path: &Path) -> Result<RuntimeConfig, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Parse config text.
pub fn parse(text: &str) -> Result<RuntimeConfig, String> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        let line = e
            .span()
            .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
        let message = e.message().trim().replace('\n', ", ");
        match line {
            Some(n) => format!("line {n}: {message}"),
            None => message,
        }
    })?;
    let runtime = match table.get("runtime") {
        None => None,
        Some(toml::Value::Table(t)) => Some(t),
        Some(_) => return Err("`runtime` must be a table".into()),
    };
    let text_key = |key: &str, default: &str| -> Result<String, String> {
        match runtime.and_then(|t| t.get(key)) {
            None => Ok(default.to_string()),
            Some(toml::Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(format!("`runtime.{key}` must be a string")),
        }
    };
    let default_mode = text_key("default_mode", "default_codex")?;
    let run_style = text_key("run_style", "daemon")?;
    if !matches!(run_style.as_str(), "once" | "daemon") {
        return Err(format!(
            "`runtime.run_style` must be \"once\" or \"daemon\", not {run_style:?}"
        ));
    }
    Ok(RuntimeConfig {
        default_mode,
        run_style,
        table,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_parses() {
        let c = parse(BOOTSTRAP_TOML).unwrap();
        assert_eq!(c.default_mode, "default_codex");
        assert_eq!(c.run_style, "daemon");
    }

    #[test]
    fn bad_config_is_one_line() {
        for bad in [
            "[runtime",
            "runtime = 3",
            "[runtime]\nrun_style = \"sometimes\"",
        ] {
            let e = parse(bad).unwrap_err();
            assert!(!e.trim().contains('\n'), "{e}");
        }
    }
}
