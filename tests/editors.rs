//! The editor support in `editors/`: the TextMate grammar highlights every
//! keyword of the grammar, and the VS Code extension declares the language,
//! ships the grammar it names and starts `millrace lsp`.

use serde_json::Value;
use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn json(rel: &str) -> Value {
    let text = std::fs::read_to_string(root().join(rel)).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

#[test]
fn the_textmate_grammar_knows_every_keyword_of_the_language() {
    let g = json("editors/vscode/syntaxes/mill.tmLanguage.json");
    assert_eq!(g["scopeName"], "source.mill");
    let keywords = g["repository"]["keyword"]["match"].as_str().unwrap();
    let pest = std::fs::read_to_string(root().join("grammar/mill.pest")).unwrap();
    let mut missing = Vec::new();
    for word in pest.split('"').skip(1).step_by(2) {
        let is_word = word.len() > 2 && word.chars().all(|c| c.is_ascii_lowercase());
        if is_word
            && !["true", "false"].contains(&word)
            && !keywords.contains(&format!("|{word}|"))
            && !keywords.contains(&format!("({word}|"))
            && !keywords.contains(&format!("|{word})"))
        {
            missing.push(word.to_string());
        }
    }
    assert!(
        missing.is_empty(),
        "keywords the grammar does not highlight: {missing:?}"
    );
}

#[test]
fn the_vscode_extension_declares_mill_and_starts_the_server() {
    let p = json("editors/vscode/package.json");
    let lang = &p["contributes"]["languages"][0];
    assert_eq!(lang["id"], "mill");
    assert_eq!(lang["extensions"][0], ".mill");
    let grammar = p["contributes"]["grammars"][0]["path"].as_str().unwrap();
    assert!(
        root().join("editors/vscode").join(grammar).is_file(),
        "{grammar}"
    );
    let config = lang["configuration"].as_str().unwrap();
    json(&format!(
        "editors/vscode/{}",
        config.trim_start_matches("./")
    ));
    let main = p["main"].as_str().unwrap();
    let js = std::fs::read_to_string(root().join("editors/vscode").join(main)).unwrap();
    assert!(js.contains("args: [\"lsp\"]"), "{js}");
    assert!(p["dependencies"]["vscode-languageclient"].is_string());
}
