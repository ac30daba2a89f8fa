//! `syncshell`: the command-line tool for a person scripting or debugging a syncshell.
//!
//! Every subcommand reads and writes the crates' own binary encodings (key files, the shell
//! genesis, token chains, join requests, the invite ledger, tombstones, revocation sets),
//! except invites, which are text. Output is for people by default and one JSON object per
//! command with `--json`. Every failure is a message and a non-zero exit status: 1 for an
//! error, 2 for a usage error.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod cli;
mod files;
mod output;
mod pack;
mod trust;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command, IdentityCommand, InviteCommand, PackCommand, ShellCommand};
use crate::output::{CliError, Outcome};

fn run(cli: &Cli) -> Result<Outcome, CliError> {
    match &cli.command {
        Command::Identity(IdentityCommand::New(a)) => trust::identity_new(a),
        Command::Identity(IdentityCommand::Show(a)) => trust::identity_show(a),
        Command::Shell(ShellCommand::Create(a)) => trust::shell_create(a),
        Command::Shell(ShellCommand::Show(a)) => trust::shell_show(a),
        Command::Invite(InviteCommand::Create(a)) => trust::invite_create(a),
        Command::Invite(InviteCommand::Inspect(a)) => trust::invite_inspect(a),
        Command::Join(a) => trust::join(a),
        Command::Token(cli::TokenCommand::Issue(a)) => trust::token_issue(a),
        Command::Token(cli::TokenCommand::Inspect(a)) => trust::token_inspect(a),
        Command::Token(cli::TokenCommand::Verify(a)) => trust::token_verify(a),
        Command::Revoke(a) => trust::revoke(a),
        Command::Pack(PackCommand::Key(a)) => pack::key(a),
        Command::Pack(PackCommand::Seal(a)) => pack::seal(a),
        Command::Pack(PackCommand::Open(a)) => pack::open(a),
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // A usage error is JSON too when JSON was asked for (help and version are not
            // errors: they print as usual).
            if e.use_stderr() && std::env::args_os().any(|a| a == "--json") {
                let text = e.render().to_string();
                // The message is what comes before the usage lines, on one line.
                let message = text.split("\n\nUsage:").next().unwrap_or_default();
                let message = message.strip_prefix("error: ").unwrap_or(message);
                let error = message.split_whitespace().collect::<Vec<_>>().join(" ");
                println!(
                    "{}",
                    serde_json::json!({ "error": error, "usage": text.trim_end() })
                );
                return ExitCode::from(2);
            }
            e.exit()
        }
    };
    match run(&cli) {
        Ok(outcome) => {
            outcome.print(cli.json);
            ExitCode::SUCCESS
        }
        Err(error) => {
            error.print(cli.json);
            ExitCode::FAILURE
        }
    }
}
