//! Identities, shells, invites, join requests, tokens and revocations.

use std::path::Path;

use rand_core::OsRng;
use serde_json::{json, Value};
use syncshell_examples::args::ValidFor;
use syncshell_identity::{
    Identity, InviteCode, InviteLedger, InviteOptions, JoinRequest, KdfParams, KeyFile,
    MemberToken, PeerId, Role, ShellGenesis, Timestamp, TokenChain, DEFAULT_TOKEN_VALIDITY,
};
use syncshell_revocation::{Reason, RevocationSet, Tombstone};
use zeroize::Zeroizing;

use crate::cli::{
    IdentityNewArgs, IdentityShowArgs, InviteCreateArgs, InviteInspectArgs, InviteSource, JoinArgs,
    ReasonArg, RevokeArgs, RoleArg, ShellCreateArgs, ShellShowArgs, SignerArgs, TokenInspectArgs,
    TokenIssueArgs, TokenVerifyArgs,
};
use crate::files::{
    load_chain, load_genesis, load_identity, load_key_file, new_passphrase, read, read_if_exists,
    refuse_existing, shown, write_new, write_replace,
};
use crate::output::{
    human_expiry, human_time, json_ms, json_time, now, warn, CliError, Context, Outcome,
};

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Member => "member",
        Role::Admin => "admin",
        Role::Owner => "owner",
    }
}

fn role_of(arg: RoleArg) -> Role {
    match arg {
        RoleArg::Member => Role::Member,
        RoleArg::Admin => Role::Admin,
    }
}

fn reason_of(arg: ReasonArg) -> Reason {
    match arg {
        ReasonArg::Removed => Reason::Removed,
        ReasonArg::Left => Reason::Left,
        ReasonArg::Compromised => Reason::Compromised,
        ReasonArg::Superseded => Reason::Superseded,
    }
}

fn reason_name(reason: Reason) -> &'static str {
    match reason {
        Reason::Removed => "removed",
        Reason::Left => "left",
        Reason::Compromised => "compromised",
        Reason::Superseded => "superseded",
    }
}

/// Longest text taken for a short peer id (`PeerId::short` is 13 characters; people may
/// copy a few more).
const SHORT_ID_LEN: usize = 24;

fn parse_peer(text: &str) -> Result<PeerId, CliError> {
    let text = text.trim();
    text.parse().map_err(|e| {
        // The short form names a peer for people, but cannot be checked: ask for the rest.
        if text.starts_with("peer-") && text.len() <= SHORT_ID_LEN {
            CliError::new(format!(
                "{text:?} is not a valid peer id: a short id (as printed next to names) cannot \
                 name a peer here; give the whole id (`syncshell identity show` prints it)"
            ))
        } else {
            CliError::new(format!("{text:?} is not a valid peer id: {e}"))
        }
    })
}

/// The signer's key, the shell, the signer's chain and the revocations it knows of, checked
/// to admit the signer now.
struct Signer {
    identity: Identity,
    genesis: ShellGenesis,
    revocations: RevocationSet,
    chain: TokenChain,
    role: Role,
    expires_at: Option<Timestamp>,
}

fn load_signer(args: &SignerArgs, now: Timestamp) -> Result<Signer, CliError> {
    let genesis = load_genesis(&args.shell)?;
    let chain = load_chain(args.chain.as_deref())?;
    let identity = load_identity(&args.key)?;
    let peer = identity.peer_id();
    if &peer != genesis.owner() && chain.is_empty() {
        return Err(CliError::new(format!(
            "{} is not the owner of shell {:?}: give its token chain with --chain",
            shown(&args.key),
            genesis.name()
        )));
    }
    let revocations = match &args.revocations {
        Some(path) => match read_if_exists(path, "revocation set")? {
            Some(bytes) => RevocationSet::decode(&bytes, genesis.clone())
                .context(format!("{} is not a valid revocation set", shown(path)))?,
            None => RevocationSet::new(genesis.clone()),
        },
        None => RevocationSet::new(genesis.clone()),
    };
    let admission = revocations.admit(&peer, &chain, now).context(format!(
        "{} is not admitted to shell {:?}",
        shown(&args.key),
        genesis.name()
    ))?;
    Ok(Signer {
        identity,
        genesis,
        revocations,
        chain,
        role: admission.role(),
        expires_at: admission.expires_at(),
    })
}

fn require_admin(signer: &Signer, action: &str) -> Result<(), CliError> {
    if signer.role < Role::Admin {
        return Err(CliError::new(format!(
            "only an admin or the owner can {action}; this key is a {}",
            role_name(signer.role)
        )));
    }
    Ok(())
}

fn kdf_json(params: KdfParams) -> Value {
    json!({
        "memory_kib": params.m_cost_kib(),
        "passes": params.t_cost(),
        "lanes": params.p_cost(),
    })
}

pub(crate) fn identity_new(args: &IdentityNewArgs) -> Result<Outcome, CliError> {
    let params = KdfParams::new(
        args.kdf.kdf_memory_kib,
        args.kdf.kdf_passes,
        args.kdf.kdf_lanes,
    )
    .context("bad key-derivation settings")?;
    if std::fs::symlink_metadata(&args.out).is_ok() {
        return Err(CliError::new(format!(
            "{} already exists: a key file is never overwritten",
            shown(&args.out)
        )));
    }
    let pass = new_passphrase(&args.out)?;
    let identity = Identity::generate(&mut OsRng);
    let file = KeyFile::seal(&identity, pass.as_bytes(), params, &mut OsRng)
        .context("cannot seal the key")?;
    write_new(&args.out, &file.encode(), "key file", true)?;
    let peer = identity.peer_id();
    Ok(Outcome::new(json!({
        "peer_id": peer.to_string(),
        "short": peer.short(),
        "key_file": args.out.display().to_string(),
        "kdf": kdf_json(params),
    }))
    .field("peer id", peer)
    .field("short", peer.short())
    .field("key file", args.out.display()))
}

pub(crate) fn identity_show(args: &IdentityShowArgs) -> Result<Outcome, CliError> {
    let file = load_key_file(&args.key)?;
    let peer = file.peer_id();
    let p = file.params();
    Ok(Outcome::new(json!({
        "peer_id": peer.to_string(),
        "short": peer.short(),
        "key_file": args.key.display().to_string(),
        "kdf": kdf_json(p),
    }))
    .field("peer id", peer)
    .field("short", peer.short())
    .field(
        "key file",
        format!(
            "{} (Argon2id {} KiB, {} passes, {} lanes)",
            args.key.display(),
            p.m_cost_kib(),
            p.t_cost(),
            p.p_cost()
        ),
    ))
}

fn genesis_outcome(genesis: &ShellGenesis, file: &Path, now: Timestamp) -> Outcome {
    Outcome::new(json!({
        "shell_id": genesis.id().to_string(),
        "name": genesis.name(),
        "owner": genesis.owner().to_string(),
        "created_at": json_time(Some(genesis.created_at())),
        "created_at_ms": genesis.created_at().as_millis(),
        "genesis_file": file.display().to_string(),
    }))
    .field("shell id", genesis.id())
    .field("name", genesis.name())
    .field("owner", genesis.owner())
    .field("created", human_time(genesis.created_at(), now))
    .field("genesis", file.display())
}

pub(crate) fn shell_create(args: &ShellCreateArgs) -> Result<Outcome, CliError> {
    let identity = load_identity(&args.key)?;
    let now = now();
    let genesis = ShellGenesis::create(&identity, &args.name, now, &mut OsRng)
        .context("cannot create the shell")?;
    write_new(&args.out, &genesis.encode(), "shell genesis", false)?;
    Ok(genesis_outcome(&genesis, &args.out, now))
}

pub(crate) fn shell_show(args: &ShellShowArgs) -> Result<Outcome, CliError> {
    let genesis = load_genesis(&args.shell)?;
    Ok(genesis_outcome(&genesis, &args.shell, now()))
}

fn hints_text(hints: &[u8]) -> String {
    String::from_utf8(hints.to_vec()).unwrap_or_else(|_| format!("{} bytes", hints.len()))
}

pub(crate) fn invite_create(args: &InviteCreateArgs) -> Result<Outcome, CliError> {
    let now = now();
    let signer = load_signer(&args.signer, now)?;
    require_admin(&signer, "invite")?;
    let validity = args.valid_for;
    let role = role_of(args.role);
    if role > signer.role {
        return Err(CliError::new(format!(
            "an invite cannot grant {} when the inviter is a {}",
            role_name(role),
            role_name(signer.role)
        )));
    }
    let options = InviteOptions {
        validity,
        max_uses: args.uses,
        role,
        hints: args.hints.clone().unwrap_or_default().into_bytes(),
    };
    let code = InviteCode::create(
        &signer.revocations,
        &signer.identity,
        &signer.chain,
        &options,
        now,
        &mut OsRng,
    )
    .context("cannot create the invite")?;
    let text = code.to_text();
    if let Some(out) = &args.out {
        let mut line = Zeroizing::new(text.as_str().to_owned());
        line.push('\n');
        write_new(out, line.as_bytes(), "invite file", true)?;
    }
    let invite = code.invite();
    let mut out = Outcome::new(json!({
        "invite": text.as_str(),
        "shell_id": signer.genesis.id().to_string(),
        "shell_name": signer.genesis.name(),
        "inviter": invite.inviter().to_string(),
        "role": role_name(invite.role()),
        "max_uses": invite.max_uses(),
        "issued_at": json_time(Some(invite.issued_at())),
        "issued_at_ms": invite.issued_at().as_millis(),
        "expires_at": json_time(Some(invite.expires_at())),
        "expires_at_ms": invite.expires_at().as_millis(),
        "invite_file": args.out.as_ref().map(|p| p.display().to_string()),
    }))
    .line(text.as_str())
    .note(format!(
        "Invite to {:?} as {}, for {} {}, expires {}. It is a secret: send it privately.",
        signer.genesis.name(),
        role_name(invite.role()),
        invite.max_uses(),
        if invite.max_uses() == 1 {
            "person"
        } else {
            "people"
        },
        human_time(invite.expires_at(), now)
    ));
    if let Some(p) = &args.out {
        out = out.note(format!("Written to {}.", p.display()));
    }
    Ok(out)
}

fn read_invite(source: &InviteSource) -> Result<InviteCode, CliError> {
    let text: Zeroizing<String> = match (&source.invite, &source.invite_file) {
        (Some(t), _) => Zeroizing::new(t.clone()),
        (None, Some(path)) => {
            let bytes = Zeroizing::new(read(path, "invite file")?);
            Zeroizing::new(
                std::str::from_utf8(&bytes)
                    .map_err(|_| CliError::new(format!("{} is not text", shown(path))))?
                    .to_owned(),
            )
        }
        (None, None) => return Err(CliError::new("give the invite text or --invite-file")),
    };
    text.trim().parse().context("not a valid invite")
}

pub(crate) fn invite_inspect(args: &InviteInspectArgs) -> Result<Outcome, CliError> {
    let code = read_invite(&args.source)?;
    let invite = code.invite();
    let now = now();
    let genesis = invite.genesis();
    // Without the shell's tombstones, what anyone holding the invite can check.
    let usable = invite.check_usable(now);
    let status = match &usable {
        Ok(_) => "usable".to_owned(),
        Err(e) => format!("not usable: {e}"),
    };
    Ok(Outcome::new(json!({
        "shell_id": genesis.id().to_string(),
        "shell_name": genesis.name(),
        "owner": genesis.owner().to_string(),
        "inviter": invite.inviter().to_string(),
        "inviter_chain_len": invite.inviter_chain().tokens().len(),
        "role": role_name(invite.role()),
        "max_uses": invite.max_uses(),
        "issued_at": json_time(Some(invite.issued_at())),
        "issued_at_ms": invite.issued_at().as_millis(),
        "expires_at": json_time(Some(invite.expires_at())),
        "expires_at_ms": invite.expires_at().as_millis(),
        "hints": hints_text(invite.hints()),
        "usable": usable.is_ok(),
        "problem": usable.as_ref().err().map(ToString::to_string),
    }))
    .field("shell id", genesis.id())
    .field("shell name", genesis.name())
    .field("owner", genesis.owner())
    .field("inviter", invite.inviter())
    .field("role", role_name(invite.role()))
    .field("uses", invite.max_uses())
    .field("issued", human_time(invite.issued_at(), now))
    .field("expires", human_time(invite.expires_at(), now))
    .field("hints", hints_text(invite.hints()))
    .field("status", status))
}

pub(crate) fn join(args: &JoinArgs) -> Result<Outcome, CliError> {
    let code = read_invite(&args.source)?;
    refuse_existing(&args.out, "join request")?;
    if let Some(path) = &args.genesis_out {
        refuse_existing(path, "shell genesis")?;
    }
    let identity = load_identity(&args.key)?;
    let now = now();
    let request = code.join_request(&identity, now).map_err(|e| match e {
        syncshell_identity::Error::Expired { .. } => CliError::new(format!(
            "cannot answer the invite: {e}; ask the inviter for a new one"
        )),
        e => CliError::new(format!("cannot answer the invite: {e}")),
    })?;
    let genesis = code.invite().genesis();
    if let Some(path) = &args.genesis_out {
        write_new(path, &genesis.encode(), "shell genesis", false)?;
    }
    write_new(&args.out, &request.encode(), "join request", false)?;
    Ok(Outcome::new(json!({
        "joiner": identity.peer_id().to_string(),
        "shell_id": genesis.id().to_string(),
        "shell_name": genesis.name(),
        "inviter": code.invite().inviter().to_string(),
        "request_file": args.out.display().to_string(),
        "genesis_file": args.genesis_out.as_ref().map(|p| p.display().to_string()),
    }))
    .field("joiner", identity.peer_id())
    .field("shell id", genesis.id())
    .field("shell name", genesis.name())
    .field("request", args.out.display())
    .note(format!(
        "Send {} to the inviter ({}); they answer with your token chain.",
        args.out.display(),
        code.invite().inviter().short()
    )))
}

fn token_json(t: &MemberToken) -> Value {
    json!({
        "subject": t.subject().to_string(),
        "role": role_name(t.role()),
        "issuer": t.issuer().to_string(),
        "shell_id": t.shell_id().to_string(),
        "issued_at": json_time(Some(t.issued_at())),
        "issued_at_ms": t.issued_at().as_millis(),
        "expires_at": json_time(t.expires_at()),
        "expires_at_ms": json_ms(t.expires_at()),
    })
}

pub(crate) fn token_issue(args: &TokenIssueArgs) -> Result<Outcome, CliError> {
    let now = now();
    let signer = load_signer(&args.signer, now)?;
    require_admin(&signer, "issue tokens")?;
    refuse_existing(&args.out, "token chain")?;
    let mut ledger_update = None;
    let chain = if let Some(request_path) = &args.request {
        let bytes = read(request_path, "join request")?;
        let request = JoinRequest::decode(&bytes).context(format!(
            "{} is not a valid join request",
            shown(request_path)
        ))?;
        let mut ledger = match &args.ledger {
            Some(path) => match read_if_exists(path, "invite ledger")? {
                Some(bytes) => InviteLedger::decode(&bytes)
                    .context(format!("{} is not a valid invite ledger", shown(path)))?,
                None => InviteLedger::new(),
            },
            None => {
                warn("no --ledger: the invite's use limit is not enforced");
                InviteLedger::new()
            }
        };
        let chain = ledger
            .accept(
                &signer.revocations,
                &signer.identity,
                &signer.chain,
                &request,
                now,
                &mut OsRng,
            )
            .context("cannot accept the join request")?;
        if let Some(path) = &args.ledger {
            ledger.prune(now);
            let uses = ledger.uses(request.invite().invite_key());
            ledger_update = Some((path, ledger, uses, request.invite().max_uses()));
        }
        chain
    } else {
        let subject = parse_peer(args.subject.as_deref().unwrap_or_default())?;
        let role = role_of(args.role.unwrap_or(RoleArg::Member));
        let asked = match args.valid_for {
            Some(ValidFor::For(d)) => Some(now.saturating_add(d)),
            Some(ValidFor::Never) => None,
            None => Some(now.saturating_add(DEFAULT_TOKEN_VALIDITY)),
        };
        // A token never outlives its issuer's: a longer one is cut, and said so.
        let expires_at = match (asked, signer.expires_at) {
            (Some(at), Some(limit)) if at > limit => Some(limit),
            (None, Some(limit)) => Some(limit),
            (asked, _) => asked,
        };
        if args.valid_for.is_some() && expires_at != asked {
            if let Some(limit) = expires_at {
                warn(&format!(
                    "the token is cut to expire with the issuer's own, at {}",
                    human_time(limit, now)
                ));
            }
        }
        TokenChain::issue(
            &signer.revocations,
            &signer.identity,
            &signer.chain,
            subject,
            role,
            now,
            expires_at,
            &mut OsRng,
        )
        .context("cannot issue the token")?
    };
    write_new(&args.out, &chain.encode(), "token chain", false)?;
    // The use is recorded once the chain is safely written.
    let ledger_note = match ledger_update {
        Some((path, ledger, uses, max)) => {
            write_replace(path, &ledger.encode(), "invite ledger")?;
            Some((path.display().to_string(), uses, max))
        }
        None => None,
    };
    let Some(token) = chain.tokens().first() else {
        return Err(CliError::new("the issued chain is empty"));
    };
    let mut json = token_json(token);
    if let Some(obj) = json.as_object_mut() {
        obj.insert("chain_file".into(), args.out.display().to_string().into());
        obj.insert("chain_len".into(), chain.tokens().len().into());
        if let Some((path, uses, max)) = &ledger_note {
            obj.insert("ledger_file".into(), path.clone().into());
            obj.insert("invite_uses".into(), (*uses).into());
            obj.insert("invite_max_uses".into(), (*max).into());
        }
    }
    let mut out = Outcome::new(json)
        .field("subject", token.subject())
        .field("role", role_name(token.role()))
        .field("issuer", token.issuer())
        .field("expires", human_expiry(token.expires_at(), now))
        .field("chain", args.out.display());
    if let Some((path, uses, max)) = ledger_note {
        out = out.field("ledger", format!("{path} (invite used {uses} of {max})"));
    }
    Ok(out)
}

pub(crate) fn token_inspect(args: &TokenInspectArgs) -> Result<Outcome, CliError> {
    let chain = load_chain(Some(&args.chain))?;
    let now = now();
    let mut out = Outcome::new(json!({
        "tokens": chain.tokens().iter().map(token_json).collect::<Vec<_>>(),
    }));
    if chain.is_empty() {
        out = out.line("the chain is empty (the owner's)");
    }
    for (i, t) in chain.tokens().iter().enumerate() {
        if i > 0 {
            out = out.line("");
        }
        out = out
            .line(format!("token {}:", i + 1))
            .field("  subject", t.subject())
            .field("  role", role_name(t.role()))
            .field("  issuer", t.issuer())
            .field("  shell id", t.shell_id())
            .field("  issued", human_time(t.issued_at(), now))
            .field("  expires", human_expiry(t.expires_at(), now));
    }
    Ok(out)
}

fn load_revocations(
    genesis: &ShellGenesis,
    set: Option<&Path>,
    tombstones: &[std::path::PathBuf],
) -> Result<RevocationSet, CliError> {
    let mut revocations = match set {
        Some(path) => {
            let bytes = read(path, "revocation set")?;
            RevocationSet::decode(&bytes, genesis.clone())
                .context(format!("{} is not a valid revocation set", shown(path)))?
        }
        None => RevocationSet::new(genesis.clone()),
    };
    for path in tombstones {
        let bytes = read(path, "tombstone")?;
        revocations
            .insert_encoded(&bytes)
            .context(format!("{} is not a valid tombstone", shown(path)))?;
    }
    Ok(revocations)
}

pub(crate) fn token_verify(args: &TokenVerifyArgs) -> Result<Outcome, CliError> {
    let genesis = load_genesis(&args.shell)?;
    let chain = load_chain(args.chain.as_deref())?;
    let peer = match (&args.peer, chain.tokens().first()) {
        (Some(text), _) => parse_peer(text)?,
        (None, Some(t)) => *t.subject(),
        (None, None) => {
            return Err(CliError::new(
                "give --chain, or --peer for the owner (who holds no chain)",
            ))
        }
    };
    let revocations = load_revocations(&genesis, args.revocations.as_deref(), &args.tombstone)?;
    let now = now();
    let admission = revocations
        .admit(&peer, &chain, now)
        .context(format!("not admitted to shell {:?}", genesis.name()))?;
    Ok(Outcome::new(json!({
        "valid": true,
        "peer": peer.to_string(),
        "role": role_name(admission.role()),
        "shell_id": genesis.id().to_string(),
        "expires_at": json_time(admission.expires_at()),
        "expires_at_ms": json_ms(admission.expires_at()),
        "chain_keys": admission.chain_keys().iter().map(ToString::to_string).collect::<Vec<_>>(),
        "revocations_checked": revocations.len(),
    }))
    .field("valid", role_name(admission.role()))
    .field("peer", peer)
    .field("shell", format!("{:?} ({})", genesis.name(), genesis.id()))
    .field("expires", human_expiry(admission.expires_at(), now))
    .field("tombstones", revocations.len()))
}

pub(crate) fn revoke(args: &RevokeArgs) -> Result<Outcome, CliError> {
    let peer = parse_peer(&args.peer)?;
    let now = now();
    let signer = load_signer(&args.signer, now)?;
    require_admin(&signer, "revoke")?;
    if let Some(out) = &args.out {
        refuse_existing(out, "tombstone")?;
    }
    let mut signer = signer;
    let tombstone = Tombstone::issue(
        &signer.revocations,
        &signer.identity,
        &signer.chain,
        peer,
        reason_of(args.reason),
        now,
    )
    .context("cannot revoke")?;
    if let Some(out) = &args.out {
        write_new(out, &tombstone.encode(), "tombstone", false)?;
    }
    let set = &mut signer.revocations;
    if let Some(path) = &args.signer.revocations {
        set.insert(tombstone.clone())
            .context("cannot add the tombstone to the revocation set")?;
        write_replace(path, &set.encode(), "revocation set")?;
    }
    let mut out = Outcome::new(json!({
        "revoked": peer.to_string(),
        "reason": reason_name(tombstone.reason()),
        "issuer": tombstone.issuer().to_string(),
        "shell_id": tombstone.shell_id().to_string(),
        "revoked_at": json_time(Some(tombstone.revoked_at())),
        "revoked_at_ms": tombstone.revoked_at().as_millis(),
        "tombstone_id": hex::encode(tombstone.id().as_bytes()),
        "tombstone_file": args.out.as_ref().map(|p| p.display().to_string()),
        "revocations_file": args.signer.revocations.as_ref().map(|p| p.display().to_string()),
        "revocations_count": args.signer.revocations.as_ref().map(|_| set.len()),
    }))
    .field("revoked", peer)
    .field("reason", reason_name(tombstone.reason()))
    .field("tombstone", tombstone.id());
    if let Some(p) = &args.out {
        out = out.field("written", p.display());
    }
    if let Some(p) = &args.signer.revocations {
        out = out.field(
            "set",
            format!("{} (tombstones: {})", p.display(), set.len()),
        );
    }
    Ok(out)
}
