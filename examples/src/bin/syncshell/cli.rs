//! The command line: subcommands, their arguments and their help.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use syncshell_examples::args::{duration, ValidFor};

const PASSPHRASE_HELP: &str = "\
Passphrases: taken from the SYNCSHELL_PASSPHRASE environment variable when it is set, otherwise \
asked for on the terminal without echo (twice for `identity new`); without a terminal on stdin \
and without the variable, a command that needs a passphrase fails.

Files are the syncshell crates' own binary encodings; invites are text. Output files are never \
overwritten, except the ledger and revocation-set files, which are updated in place. Times are \
UTC. Exit status: 0 on success, 1 on an error, 2 on a usage error.";

/// Create and check syncshell identities, shells, invites, tokens and revocations, and seal
/// folders into encrypted packs.
#[derive(Debug, Parser)]
#[command(name = "syncshell", version, after_long_help = PASSPHRASE_HELP)]
pub(crate) struct Cli {
    /// Print one JSON object on stdout instead of text (errors too, as {"error": "..."}).
    #[arg(long, global = true)]
    pub(crate) json: bool,

    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Make or show a key file (a secret key under a passphrase).
    #[command(subcommand)]
    Identity(IdentityCommand),
    /// Create a shell (its signed genesis) or show one.
    #[command(subcommand)]
    Shell(ShellCommand),
    /// Create an invite, or look inside one without using it.
    #[command(subcommand)]
    Invite(InviteCommand),
    /// Answer an invite with a join request for the inviter to accept.
    Join(JoinArgs),
    /// Issue, inspect or verify member tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Revoke a member's key: write a signed tombstone, or add one to a revocation set.
    Revoke(RevokeArgs),
    /// Seal a folder into one encrypted file for a 32-byte key, and open it again: the
    /// offline form of a transfer.
    #[command(subcommand)]
    Pack(PackCommand),
}

#[derive(Debug, Subcommand)]
pub(crate) enum IdentityCommand {
    /// Generate a new identity and save it in a key file under a passphrase.
    New(IdentityNewArgs),
    /// Show the peer id of a key file (no passphrase needed).
    Show(IdentityShowArgs),
}

/// Argon2id costs of a new key file; the defaults are RFC 9106's second recommended setting.
#[derive(Debug, Args)]
pub(crate) struct KdfArgs {
    /// Argon2id memory cost in KiB.
    #[arg(long, default_value_t = 64 * 1024, hide = true)]
    pub(crate) kdf_memory_kib: u32,
    /// Argon2id passes.
    #[arg(long, default_value_t = 3, hide = true)]
    pub(crate) kdf_passes: u32,
    /// Argon2id lanes.
    #[arg(long, default_value_t = 4, hide = true)]
    pub(crate) kdf_lanes: u32,
}

#[derive(Debug, Args)]
pub(crate) struct IdentityNewArgs {
    /// Where to write the key file (must not exist).
    #[arg(long, value_name = "FILE")]
    pub(crate) out: PathBuf,
    #[command(flatten)]
    pub(crate) kdf: KdfArgs,
}

#[derive(Debug, Args)]
pub(crate) struct IdentityShowArgs {
    /// The key file.
    #[arg(long, value_name = "FILE")]
    pub(crate) key: PathBuf,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ShellCommand {
    /// Create a new shell owned by the key; writes its genesis and prints its id.
    Create(ShellCreateArgs),
    /// Show a shell genesis: id, name, owner, creation time.
    Show(ShellShowArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ShellCreateArgs {
    /// The owner's key file.
    #[arg(long, value_name = "FILE")]
    pub(crate) key: PathBuf,
    /// The shell's name (1 to 64 bytes).
    #[arg(long)]
    pub(crate) name: String,
    /// Where to write the genesis (must not exist).
    #[arg(long, value_name = "FILE")]
    pub(crate) out: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct ShellShowArgs {
    /// The shell genesis file.
    #[arg(long, value_name = "FILE")]
    pub(crate) shell: PathBuf,
}

/// The role a token or invite grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum RoleArg {
    /// Shares and receives files.
    Member,
    /// Also invites, issues tokens and revokes.
    Admin,
}

/// The key that signs, the shell, and the signer's own token chain.
#[derive(Debug, Args)]
pub(crate) struct SignerArgs {
    /// The signer's key file (the owner, or an admin with --chain).
    #[arg(long, value_name = "FILE")]
    pub(crate) key: PathBuf,
    /// The shell genesis file.
    #[arg(long, value_name = "FILE")]
    pub(crate) shell: PathBuf,
    /// The signer's token chain; leave it out when the key is the shell owner.
    #[arg(long, value_name = "FILE")]
    pub(crate) chain: Option<PathBuf>,
    /// The shell's revocation set file, if the signer keeps one: a signer it revokes (or
    /// whose chain passes through a revoked key) is refused. `revoke` adds its tombstone to
    /// it (creating the file if missing).
    #[arg(long, value_name = "FILE")]
    pub(crate) revocations: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum InviteCommand {
    /// Create an invite and print its text (a secret: whoever holds it can join).
    Create(InviteCreateArgs),
    /// Show what an invite offers, without its secret.
    Inspect(InviteInspectArgs),
}

#[derive(Debug, Args)]
pub(crate) struct InviteCreateArgs {
    #[command(flatten)]
    pub(crate) signer: SignerArgs,
    /// How many different people may join with it (1 to 1000).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub(crate) uses: u32,
    /// How long it can be used: a number and a unit (s, m, h, d), e.g. 30m, 6h, 2d.
    #[arg(long, default_value = "30m", value_name = "DURATION", value_parser = duration)]
    pub(crate) valid_for: Duration,
    /// The role joiners receive (never above the inviter's).
    #[arg(long, value_enum, default_value_t = RoleArg::Member)]
    pub(crate) role: RoleArg,
    /// Bootstrap hints for the transport (e.g. a signaling address), carried as text.
    #[arg(long, value_name = "TEXT")]
    pub(crate) hints: Option<String>,
    /// Also write the invite text to this file (must not exist).
    #[arg(long, value_name = "FILE")]
    pub(crate) out: Option<PathBuf>,
}

/// Where an invite's text comes from.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub(crate) struct InviteSource {
    /// The invite text (`syncshell-invite-...`).
    #[arg(value_name = "INVITE")]
    pub(crate) invite: Option<String>,
    /// A file holding the invite text.
    #[arg(long, value_name = "FILE")]
    pub(crate) invite_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct InviteInspectArgs {
    #[command(flatten)]
    pub(crate) source: InviteSource,
}

#[derive(Debug, Args)]
pub(crate) struct JoinArgs {
    /// The joiner's key file.
    #[arg(long, value_name = "FILE")]
    pub(crate) key: PathBuf,
    #[command(flatten)]
    pub(crate) source: InviteSource,
    /// Where to write the join request (must not exist); send it to the inviter.
    #[arg(long, value_name = "FILE")]
    pub(crate) out: PathBuf,
    /// Also write the shell genesis carried by the invite (must not exist).
    #[arg(long, value_name = "FILE")]
    pub(crate) genesis_out: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum TokenCommand {
    /// Issue a token chain: to a peer directly, or by accepting a join request.
    Issue(TokenIssueArgs),
    /// List the tokens of a chain file (signatures are checked, authority is not).
    Inspect(TokenInspectArgs),
    /// Check that a chain admits a peer now: exit 0 and its role, or 1 and the reason.
    Verify(TokenVerifyArgs),
}

#[derive(Debug, Args)]
pub(crate) struct TokenIssueArgs {
    #[command(flatten)]
    pub(crate) signer: SignerArgs,
    /// The peer to admit (`peer-...`).
    #[arg(long, value_name = "PEER", required_unless_present = "request")]
    pub(crate) subject: Option<String>,
    /// The role to grant to --subject [default: member].
    #[arg(long, value_enum, requires = "subject", conflicts_with = "request")]
    pub(crate) role: Option<RoleArg>,
    /// How long the token lasts: a duration (e.g. 30d, 12h) or `never`. Default 180 days.
    /// Cut to the issuer's own expiry, if it has one (a token never outlives its issuer's).
    #[arg(long, value_name = "DURATION", conflicts_with = "request")]
    pub(crate) valid_for: Option<ValidFor>,
    /// Accept this join request instead (the role comes from its invite).
    #[arg(long, value_name = "FILE", conflicts_with = "subject")]
    pub(crate) request: Option<PathBuf>,
    /// The invite ledger that counts each invite's uses; created if missing, updated in
    /// place. Without it an invite's use limit is not enforced.
    #[arg(long, value_name = "FILE", requires = "request")]
    pub(crate) ledger: Option<PathBuf>,
    /// Where to write the new token chain (must not exist).
    #[arg(long, value_name = "FILE")]
    pub(crate) out: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct TokenInspectArgs {
    /// The token chain file.
    #[arg(value_name = "CHAIN")]
    pub(crate) chain: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct TokenVerifyArgs {
    /// The shell genesis file.
    #[arg(long, value_name = "FILE")]
    pub(crate) shell: PathBuf,
    /// The peer's token chain (leave it out for the owner).
    #[arg(long, value_name = "FILE")]
    pub(crate) chain: Option<PathBuf>,
    /// The peer to admit; defaults to the subject of the chain's first token.
    #[arg(long, value_name = "PEER")]
    pub(crate) peer: Option<String>,
    /// A revocation set file to check against.
    #[arg(long, value_name = "FILE")]
    pub(crate) revocations: Option<PathBuf>,
    /// A tombstone file to check against (repeatable).
    #[arg(long, value_name = "FILE")]
    pub(crate) tombstone: Vec<PathBuf>,
}

/// Why a key is revoked (informational: every reason revokes the same way).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ReasonArg {
    /// Thrown out.
    Removed,
    /// Left of their own accord.
    Left,
    /// The key leaked.
    Compromised,
    /// Replaced by a new key of the same person.
    Superseded,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("target").required(true).multiple(true).args(["out", "revocations"]))]
pub(crate) struct RevokeArgs {
    #[command(flatten)]
    pub(crate) signer: SignerArgs,
    /// The key to revoke (`peer-...`).
    #[arg(long, value_name = "PEER")]
    pub(crate) peer: String,
    /// Why.
    #[arg(long, value_enum, default_value_t = ReasonArg::Removed)]
    pub(crate) reason: ReasonArg,
    /// Where to write the tombstone (must not exist).
    #[arg(long, value_name = "FILE")]
    pub(crate) out: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum PackCommand {
    /// Print a new random pack key (64 hex digits), or write it as 32 raw bytes.
    Key(PackKeyArgs),
    /// Seal a folder into one encrypted pack file.
    Seal(PackSealArgs),
    /// Open a pack into an empty or new folder; every file's hash is checked, and nothing
    /// is placed unless the whole pack opens.
    Open(PackOpenArgs),
}

/// The 32-byte key of a pack.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub(crate) struct PackKey {
    /// The key as 64 hex digits.
    #[arg(long, value_name = "HEX")]
    pub(crate) key_hex: Option<String>,
    /// A file holding the key as 32 raw bytes.
    #[arg(long, value_name = "FILE")]
    pub(crate) key_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct PackKeyArgs {
    /// Write the key to this file as 32 raw bytes (must not exist) instead of printing it.
    #[arg(long, value_name = "FILE")]
    pub(crate) out: Option<PathBuf>,
}

/// The AEAD that seals a pack's chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum CipherArg {
    /// ChaCha20-Poly1305.
    #[value(name = "chacha20-poly1305")]
    ChaCha20Poly1305,
    /// AES-256-GCM.
    #[value(name = "aes-256-gcm")]
    Aes256Gcm,
}

#[derive(Debug, Args)]
pub(crate) struct PackSealArgs {
    #[command(flatten)]
    pub(crate) key: PackKey,
    /// The folder to seal (symbolic links are skipped).
    #[arg(long, value_name = "DIR")]
    pub(crate) folder: PathBuf,
    /// Where to write the pack (must not exist).
    #[arg(long, value_name = "FILE")]
    pub(crate) out: PathBuf,
    /// Plaintext bytes per chunk (1024 to 1048576).
    #[arg(long, default_value_t = syncshell_stream::DEFAULT_CHUNK_SIZE, value_name = "BYTES")]
    pub(crate) chunk_size: u32,
    /// The cipher.
    #[arg(long, value_enum, default_value_t = CipherArg::ChaCha20Poly1305)]
    pub(crate) cipher: CipherArg,
}

#[derive(Debug, Args)]
pub(crate) struct PackOpenArgs {
    #[command(flatten)]
    pub(crate) key: PackKey,
    /// The pack file.
    #[arg(long = "in", value_name = "FILE")]
    pub(crate) input: PathBuf,
    /// The folder to open it into: empty, or not existing yet.
    #[arg(long, value_name = "DIR")]
    pub(crate) dest: PathBuf,
}
