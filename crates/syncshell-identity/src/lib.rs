#![doc = include_str!("../README.md")]
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

mod envelope;
mod error;
mod genesis;
mod invite;
mod keyfile;
mod keys;
mod text;
mod time;
mod token;

#[allow(
    missing_docs,
    unreachable_pub,
    missing_debug_implementations,
    clippy::all
)]
mod proto {
    include!(concat!(env!("OUT_DIR"), "/syncshell.identity.v1.rs"));
}

pub use envelope::{SignedEnvelope, MAX_WIRE_LEN};
pub use error::{Error, Kind, Result};
pub use genesis::{ShellGenesis, ShellId, GENESIS_CONTEXT, MAX_SHELL_NAME_LEN};
pub use invite::{
    Invite, InviteCode, InviteLedger, InviteOptions, JoinRequest, DEFAULT_INVITE_VALIDITY,
    INVITE_CONTEXT, JOIN_PROOF_CONTEXT, JOIN_REQUEST_CONTEXT, MAX_HINTS_LEN, MAX_INVITE_USES,
    MAX_LEDGER_JOINERS, MAX_LEDGER_LEN,
};
pub use keyfile::{KdfParams, KeyFile};
pub use keys::{verify_all, Context, Identity, PeerId, SignatureItem};
pub use time::Timestamp;
pub use token::{
    Admission, MemberToken, Revocations, Role, TokenChain, TokenFields, VerifiedChain,
    DEFAULT_TOKEN_VALIDITY, MAX_CHAIN_DEPTH, MAX_CLOCK_SKEW, TOKEN_CONTEXT,
};
