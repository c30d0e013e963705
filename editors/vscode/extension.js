// Starts `millrace lsp` for .mill files. The binary is `millrace.path`
// (default: `millrace` on PATH); the server speaks LSP over stdio.
const vscode = require("vscode");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const command = vscode.workspace.getConfiguration("millrace").get("path", "millrace");
  const server = { command, args: ["lsp"], transport: TransportKind.stdio };
  client = new LanguageClient(
    "millrace",
    "Millrace language server",
    { run: server, debug: server },
    { documentSelector: [{ scheme: "file", language: "mill" }] }
  );
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
