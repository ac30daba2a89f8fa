// Syncshell.cs: C# bindings of the syncshell C ABI (include/syncshell.h), for 64-bit hosts
// such as game plugins. Two parts:
// - between the BEGIN/END GENERATED lines, the raw P/Invoke declarations (Status, Native),
//   generated from the header (`SYNCSHELL_WRITE_BINDINGS=1 cargo test -p syncshell-ffi
//   --test bindings` rewrites only that block; the test fails when it is out of date);
// - after them, hand-written wrappers kept as they are: SafeHandle classes for every handle
//   kind, SyncshellException with the library's last error, UTF-8 and bytes helpers.
// Compile with `-unsafe`; the native library is syncshell_ffi (libsyncshell_ffi.so, ...).
using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Text;

namespace Syncshell
{
    // BEGIN GENERATED: P/Invoke declarations from include/syncshell.h. Do not edit.
    /// <summary>What a call did (syncshell_status).</summary>
    public enum Status : uint
    {
        Ok = 0,
        ErrNullArgument = 7301,
        ErrInvalidHandle = 7302,
        ErrWrongHandleKind = 7303,
        ErrPanic = 7304,
        ErrInvalidArgument = 7305,
        ErrBufferTooSmall = 7306,
        ErrDecode = 7307,
        ErrVerify = 7308,
        ErrRevoked = 7309,
        ErrExpired = 7310,
        ErrWrongPassphrase = 7311,
        ErrIo = 7312,
        ErrTimeout = 7313,
        ErrClosed = 7314,
        ErrWouldBlock = 7315,
        ErrHandshake = 7316,
        ErrTransfer = 7317,
        ErrTransport = 7318,
        ErrLimit = 7319,
        ErrPoisoned = 7320,
        ErrState = 7321,
        ErrNotAllowed = 7322,
    }

    /// <summary>The C functions, as declared in include/syncshell.h (internal: hosts use the wrappers).</summary>
    internal static unsafe partial class Native
    {
        /// <summary>The library, named as Windows names the module: syncshell_ffi.dll (mono maps it to libsyncshell_ffi.so on Linux).</summary>
        public const string Library = "syncshell_ffi.dll";
        public const uint SYNCSHELL_ABI_VERSION = ((2 << 16) | 1);
        public const uint SYNCSHELL_HANDSHAKE_RUNNING = 0;
        public const uint SYNCSHELL_HANDSHAKE_DONE = 1;
        public const uint SYNCSHELL_HANDSHAKE_FAILED = 2;
        public const uint SYNCSHELL_ROLE_MEMBER = 0;
        public const uint SYNCSHELL_ROLE_ADMIN = 1;
        public const uint SYNCSHELL_ROLE_OWNER = 2;
        public const uint SYNCSHELL_MEMBER_EVENT_READY = 1;
        public const uint SYNCSHELL_MEMBER_EVENT_START_FAILED = 2;
        public const uint SYNCSHELL_MEMBER_EVENT_JOIN_WAITING = 3;
        public const uint SYNCSHELL_MEMBER_EVENT_JOINED = 4;
        public const uint SYNCSHELL_MEMBER_EVENT_RELAY_WAITING = 5;
        public const uint SYNCSHELL_MEMBER_EVENT_RELAY_UP = 6;
        public const uint SYNCSHELL_MEMBER_EVENT_LINK_UP = 7;
        public const uint SYNCSHELL_MEMBER_EVENT_LINK_DOWN = 8;
        public const uint SYNCSHELL_MEMBER_EVENT_REFUSED = 9;
        public const uint SYNCSHELL_MEMBER_EVENT_CHAT = 10;
        public const uint SYNCSHELL_MEMBER_EVENT_ADMITTED = 11;
        public const uint SYNCSHELL_MEMBER_EVENT_JOIN_REFUSED = 12;
        public const uint SYNCSHELL_MEMBER_EVENT_NEEDS_INVITE = 13;
        public const uint SYNCSHELL_MEMBER_EVENT_SHARE_CHANGED = 14;
        public const uint SYNCSHELL_MEMBER_EVENT_SENDING = 15;
        public const uint SYNCSHELL_MEMBER_EVENT_SENT = 16;
        public const uint SYNCSHELL_MEMBER_EVENT_SEND_FAILED = 17;
        public const uint SYNCSHELL_MEMBER_EVENT_PROGRESS = 18;
        public const uint SYNCSHELL_MEMBER_EVENT_RECEIVED = 19;
        public const uint SYNCSHELL_MEMBER_EVENT_WAITING = 20;
        public const uint SYNCSHELL_MEMBER_EVENT_REMOVED = 21;
        public const uint SYNCSHELL_MEMBER_EVENT_RECEIVE_FAILED = 22;
        public const uint SYNCSHELL_MEMBER_EVENT_ERROR = 23;
        public const uint SYNCSHELL_MEMBER_EVENT_STOPPED = 24;
        public const uint SYNCSHELL_PRESENCE_ONLINE = 0;
        public const uint SYNCSHELL_PRESENCE_AWAY = 1;
        public const uint SYNCSHELL_PRESENCE_OFFLINE = 2;
        public const uint SYNCSHELL_CHANGE_ADDED = 0;
        public const uint SYNCSHELL_CHANGE_UPDATED = 1;
        public const uint SYNCSHELL_CHANGE_UNCHANGED = 2;
        public const uint SYNCSHELL_CHANGE_HIDDEN = 3;
        public const uint SYNCSHELL_CHANGE_NOT_KEPT = 4;
        public const uint SYNCSHELL_REASON_REMOVED = 0;
        public const uint SYNCSHELL_REASON_LEFT = 1;
        public const uint SYNCSHELL_REASON_COMPROMISED = 2;
        public const uint SYNCSHELL_REASON_SUPERSEDED = 3;
        public const uint SYNCSHELL_EVENT_SIGNAL = 1;
        public const uint SYNCSHELL_EVENT_CONNECTED = 2;
        public const uint SYNCSHELL_EVENT_ACCEPTED = 3;
        public const uint SYNCSHELL_EVENT_CONNECT_FAILED = 4;
        public const uint SYNCSHELL_CANDIDATE_UNKNOWN = 0;
        public const uint SYNCSHELL_CANDIDATE_HOST = 1;
        public const uint SYNCSHELL_CANDIDATE_SERVER_REFLEXIVE = 2;
        public const uint SYNCSHELL_CANDIDATE_PEER_REFLEXIVE = 3;
        public const uint SYNCSHELL_CANDIDATE_RELAY = 4;

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern uint syncshell_abi_version();

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern byte* syncshell_status_name(uint status);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_last_error(byte* buf, UIntPtr cap, UIntPtr* out_len);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern ulong syncshell_now_ms();

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_live_handles(UIntPtr* out_count);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_shutdown(uint timeout_ms);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_debug_panic();

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_bytes_len(ulong bytes, UIntPtr* out_len);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_bytes_copy(ulong bytes, byte* dst, UIntPtr dst_cap, UIntPtr* out_written);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_bytes_free(ulong bytes);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_list_len(ulong list, UIntPtr* out_len);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_list_get(ulong list, UIntPtr index, ulong* out_item);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_list_free(ulong list);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_replay_guard_new(ulong* out_guard);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_replay_guard_free(ulong guard);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_handshake_initiate(ulong identity, ulong chain, ulong revocations, byte* channel_binding, UIntPtr binding_len, ulong now_ms, ulong* out_handshake);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_handshake_respond(byte* channel_binding, UIntPtr binding_len, ulong now_ms, ulong* out_handshake);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_handshake_handle(ulong handshake, ulong identity, ulong chain, ulong revocations, ulong guard, byte* message, UIntPtr len, ulong now_ms);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_handshake_handle_timeout(ulong handshake, ulong now_ms);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_handshake_poll_transmit(ulong handshake, ulong* out_message);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_handshake_state(ulong handshake, uint* out_state);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_handshake_session_key(ulong handshake, ulong* out_key);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_handshake_peer(ulong handshake, ulong* out_peer, uint* out_role);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_handshake_free(ulong handshake);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_identity_generate(ulong* out_identity);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_identity_from_secret(byte* secret, UIntPtr secret_len, ulong* out_identity);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_identity_secret(ulong identity, ulong* out_secret);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_identity_peer_id(ulong identity, ulong* out_text);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_identity_save(ulong identity, byte* path, byte* passphrase, uint kdf_memory_kib, uint kdf_passes, uint kdf_lanes);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_identity_load(byte* path, byte* passphrase, ulong* out_identity);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_genesis_create(ulong owner, byte* name, ulong now_ms, ulong* out_genesis);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_genesis_decode(byte* data, UIntPtr len, ulong* out_genesis);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_genesis_encode(ulong genesis, ulong* out_bytes);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_genesis_id(ulong genesis, ulong* out_text);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_genesis_name(ulong genesis, ulong* out_text);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_genesis_owner(ulong genesis, ulong* out_text);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_genesis_free(ulong genesis);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_identity_free(ulong identity);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_chain_owner(ulong* out_chain);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_chain_issue(ulong revocations, ulong issuer, ulong issuer_chain, byte* subject, uint role, ulong now_ms, ulong expires_ms, ulong* out_chain);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_chain_decode(byte* data, UIntPtr len, ulong* out_chain);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_chain_encode(ulong chain, ulong* out_bytes);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_chain_verify(ulong chain, ulong revocations, byte* peer, ulong now_ms, uint* out_role);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_chain_free(ulong chain);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_invite_create(ulong revocations, ulong inviter, ulong inviter_chain, uint role, uint max_uses, ulong valid_for_ms, byte* hints, UIntPtr hints_len, ulong now_ms, ulong* out_invite);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_invite_text(ulong invite, ulong* out_text);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_invite_parse(byte* text, ulong* out_invite);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_invite_genesis(ulong invite, ulong* out_genesis);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_invite_join_request(ulong invite, ulong joiner, ulong now_ms, ulong* out_request);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_invite_free(ulong invite);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_ledger_new(ulong* out_ledger);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_ledger_decode(byte* data, UIntPtr len, ulong* out_ledger);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_ledger_encode(ulong ledger, ulong* out_bytes);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_ledger_accept(ulong ledger, ulong revocations, ulong acceptor, ulong acceptor_chain, byte* request, UIntPtr request_len, ulong now_ms, ulong* out_chain);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_ledger_free(ulong ledger);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_member_options_new(byte* data_dir, ulong* out_options);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_member_options_set_passphrase(ulong options, byte* passphrase, UIntPtr len);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_member_options_set_secret(ulong options, byte* secret, UIntPtr len);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_member_options_create_shell(ulong options, byte* shell_name);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_member_options_join(ulong options, byte* invite_text, uint timeout_ms);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_member_options_add_relay(ulong options, byte* url);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_member_options_set_ca_file(ulong options, byte* pem_path);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_member_options_set_name(ulong options, byte* name);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_member_options_set_share(ulong options, byte* path);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_member_options_set_receive(ulong options, byte* path);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_member_options_set_approval(ulong options, [MarshalAs(UnmanagedType.U1)] bool on);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_member_options_set_webrtc(ulong options, ulong config);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_member_options_free(ulong options);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_member_start(ulong runtime, ulong options, ulong* out_member);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_member_poll_event(ulong member, uint timeout_ms, ulong* out_event);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_member_event_kind(ulong @event, uint* out_kind);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_member_event_peer(ulong @event, ulong* out_peer);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_member_event_name(ulong @event, ulong* out_name);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_member_event_text(ulong @event, ulong* out_text);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_member_event_value(ulong @event, uint index, ulong* out_value);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_member_event_free(ulong @event);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_member_peer_id(ulong member, ulong* out_peer);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_member_link_count(ulong member, UIntPtr* out_count);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_member_invite(ulong member, uint role, uint max_uses, ulong valid_for_ms, ulong* out_text);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_member_revoke(ulong member, byte* who);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_member_say(ulong member, byte* text, UIntPtr* out_count);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_member_pause(ulong member, byte* who, [MarshalAs(UnmanagedType.U1)] bool pause);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_member_set_budget(ulong member, ulong bytes_per_second);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_member_set_approval(ulong member, [MarshalAs(UnmanagedType.U1)] bool on);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_member_decide(ulong member, byte* path, [MarshalAs(UnmanagedType.U1)] bool approve, uint timeout_ms);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_member_stop(ulong member, uint timeout_ms);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_member_free(ulong member);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_phonebook_new(ulong genesis, ulong* out_book);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_phonebook_decode(ulong genesis, byte* data, UIntPtr len, ulong* out_book);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_phonebook_encode(ulong book, ulong* out_bytes);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_phonebook_publish(ulong book, ulong member, ulong chain, byte* display_name, uint presence, byte* hints, UIntPtr hints_len, ulong ttl_ms, ulong now_ms, ulong* out_entry);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_phonebook_insert(ulong book, byte* entry, UIntPtr len, uint* out_change);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_phonebook_revoke(ulong book, byte* tombstone, UIntPtr len, bool* out_added);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_phonebook_merge(ulong book, byte* snapshot, UIntPtr len, UIntPtr* out_changed);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_phonebook_entries(ulong book, ulong now_ms, ulong* out_list);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_phonebook_gc(ulong book, ulong now_ms, UIntPtr* out_removed);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_phonebook_sync_start(ulong book, ulong* out_message);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_phonebook_sync_handle(ulong book, byte* message, UIntPtr len, ulong* out_replies);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_phonebook_free(ulong book);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_entry_peer_id(ulong entry, ulong* out_text);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_entry_name(ulong entry, ulong* out_text);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_entry_status(ulong entry, uint* out_presence, uint* out_role, ulong* out_last_seen_ms);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_entry_hints(ulong entry, ulong* out_hints);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_entry_free(ulong entry);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_tombstone_issue(ulong revocations, ulong issuer, ulong issuer_chain, byte* revoked, uint reason, ulong now_ms, ulong* out_tombstone);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_revocations_new(ulong genesis, ulong* out_set);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_revocations_decode(ulong genesis, byte* data, UIntPtr len, ulong* out_set);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_revocations_encode(ulong set, ulong* out_bytes);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_revocations_insert(ulong set, byte* tombstone, UIntPtr len, bool* out_added);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_revocations_merge(ulong set, ulong other, UIntPtr* out_added);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_revocations_is_revoked(ulong set, byte* peer, bool* out_revoked);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_revocations_len(ulong set, UIntPtr* out_len);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_revocations_free(ulong set);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_runtime_new(uint worker_threads, ulong* out_runtime);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_runtime_free(ulong runtime);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_webrtc_config_new(ulong* out_config);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_webrtc_config_set_bind(ulong config, byte* addresses);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_webrtc_config_add_ice_server(ulong config, byte* url, byte* username, byte* credential);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_webrtc_config_set_trickle(ulong config, [MarshalAs(UnmanagedType.U1)] bool trickle);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_webrtc_config_set_relay_only(ulong config, [MarshalAs(UnmanagedType.U1)] bool relay_only);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_webrtc_config_set_connect_timeout(ulong config, uint timeout_ms);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_webrtc_config_free(ulong config);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_mem_network_new(ulong runtime, ulong seed, uint latency_ms, uint jitter_ms, ulong bandwidth, ulong* out_network);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_mem_network_kill(ulong network, byte* address);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_mem_network_free(ulong network);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_transfer_send(ulong connection, byte* key, UIntPtr key_len, byte* folder, ulong* out_transfer);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_transfer_receive(ulong connection, byte* key, UIntPtr key_len, byte* sender, byte* folder, ulong max_total_size, ulong* out_transfer);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_transfer_send_frames(ulong runtime, byte* key, UIntPtr key_len, byte* folder, ulong* out_transfer);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_transfer_receive_frames(ulong runtime, byte* key, UIntPtr key_len, byte* sender, byte* folder, ulong max_total_size, ulong* out_transfer);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_transfer_next_frame(ulong transfer, uint timeout_ms, ulong* out_frame);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_transfer_handle_frame(ulong transfer, byte* frame, UIntPtr len);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_transfer_progress(ulong transfer, ulong* out_bytes_done, ulong* out_bytes_total);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_transfer_wait(ulong transfer, uint timeout_ms);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_transfer_free(ulong transfer);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_transport_new_webrtc(ulong runtime, ulong config, byte* address, ulong* out_transport);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_transport_new_mem(ulong network, byte* address, ulong* out_transport);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_transport_signal(ulong transport, byte* from, byte* blob, UIntPtr len);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_transport_connect(ulong transport, byte* address);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_transport_poll(ulong transport, uint timeout_ms, uint* out_kind, ulong* out_peer, ulong* out_data, ulong* out_connection);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_transport_free(ulong transport);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_connection_send(ulong connection, byte* data, UIntPtr len);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_connection_try_send(ulong connection, byte* data, UIntPtr len);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_connection_recv(ulong connection, uint timeout_ms, ulong* out_message);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_connection_channel_binding(ulong connection, ulong* out_binding);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_connection_stats(ulong connection, ulong* out_bytes_sent, ulong* out_bytes_received);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_connection_path(ulong connection, byte* out_local_kind, byte* out_remote_kind, ulong* out_rtt_us);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_connection_close(ulong connection);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_connection_free(ulong connection);
    }
    // END GENERATED

    // Hand-written wrappers over Native. Conventions:
    // - A failing call throws SyncshellException with its Status and the library's message.
    // - Every handle kind is a SafeHandle subclass whose release calls the kind's _free; use
    //   `using` or Dispose. A wrapper used after Dispose throws ObjectDisposedException.
    // - Strings go in and out as UTF-8; bytes the library returns are copied into byte[] and
    //   their handle is freed at once.
    // - Timeouts are not errors: calls that wait return null or false when nothing came.

    /// <summary>A failed syncshell call: its status and the library's last error message.</summary>
    public class SyncshellException : Exception
    {
        /// <summary>The status the call returned.</summary>
        public Status Status { get; private set; }

        /// <summary>An exception for <paramref name="status"/> with <paramref name="message"/>.</summary>
        public SyncshellException(Status status, string message)
            : base(Library.StatusName(status) + ": " + message)
        {
            Status = status;
        }

        /// <summary>Throws the SyncshellException of the status's family, with the last error message, unless the status is Ok.</summary>
        public static void Check(Status status)
        {
            if (status != Status.Ok)
            {
                throw Of(status, Library.LastError());
            }
        }

        /// <summary>The exception for <paramref name="status"/>: a subclass per family of statuses.</summary>
        public static SyncshellException Of(Status status, string message)
        {
            switch (status)
            {
                case Status.ErrNullArgument:
                case Status.ErrInvalidHandle:
                case Status.ErrWrongHandleKind:
                case Status.ErrInvalidArgument:
                case Status.ErrBufferTooSmall:
                    return new SyncshellArgumentException(status, message);
                case Status.ErrDecode:
                case Status.ErrVerify:
                case Status.ErrRevoked:
                case Status.ErrExpired:
                case Status.ErrWrongPassphrase:
                case Status.ErrHandshake:
                case Status.ErrNotAllowed:
                    return new SyncshellTrustException(status, message);
                case Status.ErrIo:
                    return new SyncshellIoException(status, message);
                case Status.ErrTimeout:
                case Status.ErrClosed:
                case Status.ErrWouldBlock:
                case Status.ErrTransfer:
                case Status.ErrTransport:
                    return new SyncshellNetworkException(status, message);
                default:
                    return new SyncshellStateException(status, message);
            }
        }
    }

    /// <summary>The host passed something wrong: NULL, a freed or wrong-kind handle, an argument out of range, a buffer too small.</summary>
    public class SyncshellArgumentException : SyncshellException
    {
        /// <summary>An exception for <paramref name="status"/>.</summary>
        public SyncshellArgumentException(Status status, string message) : base(status, message) { }
    }

    /// <summary>Something is not trusted or not allowed: bad bytes, a failed signature or handshake, a revoked or expired member, a wrong passphrase.</summary>
    public class SyncshellTrustException : SyncshellException
    {
        /// <summary>An exception for <paramref name="status"/>.</summary>
        public SyncshellTrustException(Status status, string message) : base(status, message) { }
    }

    /// <summary>A file system operation failed.</summary>
    public class SyncshellIoException : SyncshellException
    {
        /// <summary>An exception for <paramref name="status"/>.</summary>
        public SyncshellIoException(Status status, string message) : base(status, message) { }
    }

    /// <summary>The network or a transfer failed, closed, timed out or is busy.</summary>
    public class SyncshellNetworkException : SyncshellException
    {
        /// <summary>An exception for <paramref name="status"/>.</summary>
        public SyncshellNetworkException(Status status, string message) : base(status, message) { }
    }

    /// <summary>The object is not in a state for the call (still starting, stopped, poisoned), a limit was hit, or the library panicked.</summary>
    public class SyncshellStateException : SyncshellException
    {
        /// <summary>An exception for <paramref name="status"/>.</summary>
        public SyncshellStateException(Status status, string message) : base(status, message) { }
    }

    /// <summary>Library-wide calls: version, clock, status names, last error.</summary>
    public static unsafe class Library
    {
        /// <summary>The ABI version of the loaded library (major &lt;&lt; 16 | minor).</summary>
        public static uint AbiVersion
        {
            get { return Native.syncshell_abi_version(); }
        }

        /// <summary>Throws unless the loaded library's ABI major matches these bindings' and the process is 64-bit.</summary>
        public static void EnsureCompatible()
        {
            Handle.Require64Bit();
            uint loaded = Native.syncshell_abi_version();
            if (loaded >> 16 != Native.SYNCSHELL_ABI_VERSION >> 16)
            {
                throw new InvalidOperationException(string.Format(
                    "the syncshell library has ABI {0}.{1}; these bindings need major {2}",
                    loaded >> 16, loaded & 0xffff, Native.SYNCSHELL_ABI_VERSION >> 16));
            }
        }

        /// <summary>Stops every member and runtime of the library and frees every handle: no library
        /// thread or socket is left when it returns. Call it from a plugin's Dispose (the DLL stays
        /// loaded after the plugin unloads); no other call may run meanwhile.</summary>
        public static void Shutdown(uint timeoutMs = 5000)
        {
            SyncshellException.Check(Native.syncshell_shutdown(timeoutMs));
        }

        /// <summary>Milliseconds since the Unix epoch by the library's clock (the now_ms the calls take).</summary>
        public static ulong NowMs()
        {
            return Native.syncshell_now_ms();
        }

        /// <summary>Throws a SyncshellException unless the status is Ok (same as SyncshellException.Check).</summary>
        public static void Check(Status status)
        {
            SyncshellException.Check(status);
        }

        /// <summary>The name of a status code, for example "SYNCSHELL_ERR_TIMEOUT".</summary>
        public static string StatusName(Status status)
        {
            byte* name = Native.syncshell_status_name((uint)status);
            if (name == null)
            {
                return status.ToString();
            }
            int len = 0;
            while (name[len] != 0)
            {
                len++;
            }
            return Encoding.UTF8.GetString(name, len);
        }

        /// <summary>This thread's last error message (read it right after the failing call).</summary>
        public static string LastError()
        {
            UIntPtr len;
            if (Native.syncshell_last_error(null, UIntPtr.Zero, &len) != Status.Ok)
            {
                return "";
            }
            // The message cannot change in between: only a failing call on this thread sets it.
            byte[] buf = new byte[(int)len.ToUInt64() + 1];
            fixed (byte* p = buf)
            {
                if (Native.syncshell_last_error(p, (UIntPtr)buf.Length, &len) != Status.Ok)
                {
                    return "";
                }
                return Encoding.UTF8.GetString(p, (int)len.ToUInt64());
            }
        }
    }

    /// <summary>UTF-8 conversions for the C strings the library takes and gives.</summary>
    public static class Utf8
    {
        /// <summary>The UTF-8 bytes of <paramref name="text"/> with a NUL at the end, or null for null.</summary>
        public static byte[] NulTerminated(string text)
        {
            if (text == null)
            {
                return null;
            }
            if (text.IndexOf('\0') >= 0)
            {
                throw new ArgumentException("a string passed to syncshell cannot contain NUL", "text");
            }
            int len = Encoding.UTF8.GetByteCount(text);
            byte[] bytes = new byte[len + 1];
            Encoding.UTF8.GetBytes(text, 0, text.Length, bytes, 0);
            return bytes;
        }

        /// <summary>The string whose UTF-8 bytes are <paramref name="bytes"/>, or null for null.</summary>
        public static string Decode(byte[] bytes)
        {
            return bytes == null ? null : Encoding.UTF8.GetString(bytes);
        }
    }

    /// <summary>Turns the syncshell_bytes and syncshell_list handles the library returns into managed values.</summary>
    public static unsafe class NativeBytes
    {
        /// <summary>The length of a byte array as a size_t (0 for null).</summary>
        public static UIntPtr Len(byte[] data)
        {
            return (UIntPtr)(ulong)(data == null ? 0 : data.Length);
        }

        /// <summary>Copies a bytes handle into a new array and frees the handle, even on error; null for handle 0.</summary>
        public static byte[] Take(ulong bytes)
        {
            if (bytes == 0)
            {
                return null;
            }
            bool copied = false;
            try
            {
                UIntPtr len;
                SyncshellException.Check(Native.syncshell_bytes_len(bytes, &len));
                byte[] data = new byte[checked((int)len.ToUInt64())];
                UIntPtr written;
                fixed (byte* p = data)
                {
                    SyncshellException.Check(Native.syncshell_bytes_copy(bytes, p, len, &written));
                }
                if (written.ToUInt64() != (ulong)data.Length)
                {
                    throw new InvalidOperationException("syncshell_bytes_copy wrote a different length than syncshell_bytes_len gave");
                }
                copied = true;
                return data;
            }
            finally
            {
                Status freed = Native.syncshell_bytes_free(bytes);
                if (copied)
                {
                    SyncshellException.Check(freed);
                }
            }
        }

        /// <summary>Decodes a bytes handle holding UTF-8 text and frees it; null for handle 0.</summary>
        public static string TakeString(ulong bytes)
        {
            return Utf8.Decode(Take(bytes));
        }

        /// <summary>Takes every item of a list handle through <paramref name="wrap"/> and frees the list, even on error.</summary>
        public static List<T> TakeList<T>(ulong list, Func<ulong, T> wrap)
        {
            var items = new List<T>();
            bool done = false;
            try
            {
                UIntPtr len;
                SyncshellException.Check(Native.syncshell_list_len(list, &len));
                for (ulong i = 0; i < len.ToUInt64(); i++)
                {
                    ulong item;
                    SyncshellException.Check(Native.syncshell_list_get(list, (UIntPtr)i, &item));
                    items.Add(wrap(item));
                }
                done = true;
                return items;
            }
            finally
            {
                Status freed = Native.syncshell_list_free(list);
                if (!done)
                {
                    foreach (T item in items)
                    {
                        var disposable = item as IDisposable;
                        if (disposable != null)
                        {
                            disposable.Dispose();
                        }
                    }
                }
                else
                {
                    SyncshellException.Check(freed);
                }
            }
        }
    }

    /// <summary>A member's role in a shell (SYNCSHELL_ROLE_*).</summary>
    public enum Role : uint
    {
        /// <summary>Shares and receives files.</summary>
        Member = Native.SYNCSHELL_ROLE_MEMBER,
        /// <summary>Also invites, issues tokens and revokes.</summary>
        Admin = Native.SYNCSHELL_ROLE_ADMIN,
        /// <summary>The key named in the genesis.</summary>
        Owner = Native.SYNCSHELL_ROLE_OWNER,
    }

    /// <summary>A member's presence (SYNCSHELL_PRESENCE_*).</summary>
    public enum Presence : uint
    {
        /// <summary>Connected and reachable.</summary>
        Online = Native.SYNCSHELL_PRESENCE_ONLINE,
        /// <summary>Connected, not at the keyboard.</summary>
        Away = Native.SYNCSHELL_PRESENCE_AWAY,
        /// <summary>Not connected.</summary>
        Offline = Native.SYNCSHELL_PRESENCE_OFFLINE,
    }

    /// <summary>What merging a phonebook entry did (SYNCSHELL_CHANGE_*).</summary>
    public enum Change : uint
    {
        /// <summary>The book had no entry for that peer.</summary>
        Added = Native.SYNCSHELL_CHANGE_ADDED,
        /// <summary>It replaced an older version.</summary>
        Updated = Native.SYNCSHELL_CHANGE_UPDATED,
        /// <summary>The book already had this version or a newer one.</summary>
        Unchanged = Native.SYNCSHELL_CHANGE_UNCHANGED,
        /// <summary>Kept but not shown: the peer is revoked.</summary>
        Hidden = Native.SYNCSHELL_CHANGE_HIDDEN,
        /// <summary>The book's bounds do not keep it (its issuer's pool is full).</summary>
        NotKept = Native.SYNCSHELL_CHANGE_NOT_KEPT,
    }

    /// <summary>Why a member was revoked (SYNCSHELL_REASON_*).</summary>
    public enum RevocationReason : uint
    {
        /// <summary>Thrown out by an admin or the owner.</summary>
        Removed = Native.SYNCSHELL_REASON_REMOVED,
        /// <summary>Left of their own accord.</summary>
        Left = Native.SYNCSHELL_REASON_LEFT,
        /// <summary>The key leaked.</summary>
        Compromised = Native.SYNCSHELL_REASON_COMPROMISED,
        /// <summary>Replaced by a new key of the same person.</summary>
        Superseded = Native.SYNCSHELL_REASON_SUPERSEDED,
    }

    /// <summary>A handshake's state (SYNCSHELL_HANDSHAKE_*).</summary>
    public enum HandshakeState : uint
    {
        /// <summary>Still running.</summary>
        Running = Native.SYNCSHELL_HANDSHAKE_RUNNING,
        /// <summary>Both sides are authenticated; the session key is ready.</summary>
        Done = Native.SYNCSHELL_HANDSHAKE_DONE,
        /// <summary>Failed for good.</summary>
        Failed = Native.SYNCSHELL_HANDSHAKE_FAILED,
    }

    /// <summary>The kind of a transport event (SYNCSHELL_EVENT_*).</summary>
    public enum TransportEventKind : uint
    {
        /// <summary>Send Data to the transport at Peer, which hands it to Transport.Signal.</summary>
        Signal = Native.SYNCSHELL_EVENT_SIGNAL,
        /// <summary>Connect to Peer succeeded; Connection is new.</summary>
        Connected = Native.SYNCSHELL_EVENT_CONNECTED,
        /// <summary>A peer connected to this endpoint; Connection is new.</summary>
        Accepted = Native.SYNCSHELL_EVENT_ACCEPTED,
        /// <summary>Connect to Peer failed; Data holds the reason (UTF-8 text).</summary>
        ConnectFailed = Native.SYNCSHELL_EVENT_CONNECT_FAILED,
    }

    /// <summary>A pinned reference to a live handle for the duration of a native call.</summary>
    internal struct Lease : IDisposable
    {
        private readonly Handle owner;

        /// <summary>The raw handle (0 for a null owner).</summary>
        public readonly ulong Raw;

        internal Lease(Handle owner, ulong raw)
        {
            this.owner = owner;
            Raw = raw;
        }

        public void Dispose()
        {
            if (owner != null)
            {
                owner.DangerousRelease();
            }
        }
    }

    /// <summary>A syncshell handle: a 64-bit value kept in the IntPtr, freed by its kind's _free on release.</summary>
    public abstract class Handle : SafeHandle
    {
        /// <summary>Wraps a handle the library returned; the wrapper owns it from now on.</summary>
        protected Handle(ulong raw)
            : base(IntPtr.Zero, true)
        {
            Require64Bit();
            SetHandle(new IntPtr(unchecked((long)raw)));
        }

        /// <summary>Throws unless the process is 64-bit (the library and its handles are).</summary>
        public static void Require64Bit()
        {
            if (IntPtr.Size != 8)
            {
                throw new PlatformNotSupportedException(
                    "syncshell needs a 64-bit process: its handles are 64-bit values and the library is built for 64-bit only");
            }
        }

        /// <summary>True for the 0 handle, which names no object.</summary>
        public override bool IsInvalid
        {
            get { return handle == IntPtr.Zero; }
        }

        /// <summary>The raw handle value, for calling Native directly (not kept alive by this property).</summary>
        public ulong RawHandle
        {
            get { return unchecked((ulong)handle.ToInt64()); }
        }

        /// <summary>Frees the raw handle with the kind's _free.</summary>
        protected abstract Status Free(ulong raw);

        /// <summary>Calls the kind's _free once.</summary>
        protected override bool ReleaseHandle()
        {
            return Free(RawHandle) == Status.Ok;
        }

        /// <summary>Keeps this handle alive and unreleased until the lease is disposed.</summary>
        internal Lease Use()
        {
            bool added = false;
            DangerousAddRef(ref added);
            return new Lease(this, RawHandle);
        }

        /// <summary>A lease on an optional handle: raw 0 for null.</summary>
        internal static Lease UseOptional(Handle handle)
        {
            return handle == null ? new Lease(null, 0) : handle.Use();
        }
    }

    /// <summary>An Ed25519 identity; its secret key stays inside the library.</summary>
    public sealed unsafe class Identity : Handle
    {
        internal Identity(ulong raw) : base(raw) { }

        /// <inheritdoc/>
        protected override Status Free(ulong raw) { return Native.syncshell_identity_free(raw); }

        /// <summary>A new identity from the operating system's random generator.</summary>
        public static Identity Generate()
        {
            ulong raw;
            SyncshellException.Check(Native.syncshell_identity_generate(&raw));
            return new Identity(raw);
        }

        /// <summary>Rebuilds an identity from its 32-byte secret key.</summary>
        public static Identity FromSecret(byte[] secret)
        {
            ulong raw;
            fixed (byte* p = secret)
            {
                SyncshellException.Check(Native.syncshell_identity_from_secret(p, NativeBytes.Len(secret), &raw));
            }
            return new Identity(raw);
        }

        /// <summary>Opens the key file at <paramref name="path"/> with <paramref name="passphrase"/>.</summary>
        public static Identity Load(string path, string passphrase)
        {
            ulong raw;
            fixed (byte* p = Utf8.NulTerminated(path), q = Utf8.NulTerminated(passphrase))
            {
                SyncshellException.Check(Native.syncshell_identity_load(p, q, &raw));
            }
            return new Identity(raw);
        }

        /// <summary>The 32-byte secret key: store it as carefully as a password.</summary>
        public byte[] Secret()
        {
            ulong bytes;
            using (var l = Use())
            {
                SyncshellException.Check(Native.syncshell_identity_secret(l.Raw, &bytes));
            }
            return NativeBytes.Take(bytes);
        }

        /// <summary>The peer id in text form ("peer-...").</summary>
        public string PeerId
        {
            get
            {
                ulong text;
                using (var l = Use())
                {
                    SyncshellException.Check(Native.syncshell_identity_peer_id(l.Raw, &text));
                }
                return NativeBytes.TakeString(text);
            }
        }

        /// <summary>Seals the identity into a key file (Argon2id costs; all 0 for the defaults).</summary>
        public void Save(string path, string passphrase, uint kdfMemoryKib = 0, uint kdfPasses = 0, uint kdfLanes = 0)
        {
            using (var l = Use())
            {
                fixed (byte* p = Utf8.NulTerminated(path), q = Utf8.NulTerminated(passphrase))
                {
                    SyncshellException.Check(Native.syncshell_identity_save(l.Raw, p, q, kdfMemoryKib, kdfPasses, kdfLanes));
                }
            }
        }
    }

    /// <summary>A shell's genesis: its id, name and owner.</summary>
    public sealed unsafe class Genesis : Handle
    {
        internal Genesis(ulong raw) : base(raw) { }

        /// <inheritdoc/>
        protected override Status Free(ulong raw) { return Native.syncshell_genesis_free(raw); }

        /// <summary>Creates a shell owned by <paramref name="owner"/> named <paramref name="name"/> (at most 64 UTF-8 bytes).</summary>
        public static Genesis Create(Identity owner, string name, ulong nowMs)
        {
            ulong raw;
            using (var o = owner.Use())
            {
                fixed (byte* n = Utf8.NulTerminated(name))
                {
                    SyncshellException.Check(Native.syncshell_genesis_create(o.Raw, n, nowMs, &raw));
                }
            }
            return new Genesis(raw);
        }

        /// <summary>Decodes and verifies a genesis.</summary>
        public static Genesis Decode(byte[] data)
        {
            ulong raw;
            fixed (byte* p = data)
            {
                SyncshellException.Check(Native.syncshell_genesis_decode(p, NativeBytes.Len(data), &raw));
            }
            return new Genesis(raw);
        }

        /// <summary>The genesis's encoding.</summary>
        public byte[] Encode()
        {
            ulong bytes;
            using (var l = Use())
            {
                SyncshellException.Check(Native.syncshell_genesis_encode(l.Raw, &bytes));
            }
            return NativeBytes.Take(bytes);
        }

        /// <summary>The shell id's text form.</summary>
        public string Id
        {
            get
            {
                ulong text;
                using (var l = Use())
                {
                    SyncshellException.Check(Native.syncshell_genesis_id(l.Raw, &text));
                }
                return NativeBytes.TakeString(text);
            }
        }

        /// <summary>The shell's name.</summary>
        public string Name
        {
            get
            {
                ulong text;
                using (var l = Use())
                {
                    SyncshellException.Check(Native.syncshell_genesis_name(l.Raw, &text));
                }
                return NativeBytes.TakeString(text);
            }
        }

        /// <summary>The owner's peer id.</summary>
        public string Owner
        {
            get
            {
                ulong text;
                using (var l = Use())
                {
                    SyncshellException.Check(Native.syncshell_genesis_owner(l.Raw, &text));
                }
                return NativeBytes.TakeString(text);
            }
        }
    }

    /// <summary>A token chain: what admits a member to a shell (the owner's is empty).</summary>
    public sealed unsafe class TokenChain : Handle
    {
        internal TokenChain(ulong raw) : base(raw) { }

        /// <inheritdoc/>
        protected override Status Free(ulong raw) { return Native.syncshell_chain_free(raw); }

        /// <summary>The owner's chain (empty: the genesis names the owner).</summary>
        public static TokenChain Owner()
        {
            ulong raw;
            SyncshellException.Check(Native.syncshell_chain_owner(&raw));
            return new TokenChain(raw);
        }

        /// <summary>Issues a token to <paramref name="subject"/> (peer id) extending the issuer's chain; expiresMs 0 for none of its own. The shell's revocation set must admit the issuer.</summary>
        public static TokenChain Issue(RevocationSet revocations, Identity issuer, TokenChain issuerChain, string subject, Role role, ulong nowMs, ulong expiresMs = 0)
        {
            ulong raw;
            using (var g = revocations.Use())
            using (var i = issuer.Use())
            using (var c = issuerChain.Use())
            {
                fixed (byte* s = Utf8.NulTerminated(subject))
                {
                    SyncshellException.Check(Native.syncshell_chain_issue(g.Raw, i.Raw, c.Raw, s, (uint)role, nowMs, expiresMs, &raw));
                }
            }
            return new TokenChain(raw);
        }

        /// <summary>Decodes a chain (its signatures are checked by Verify).</summary>
        public static TokenChain Decode(byte[] data)
        {
            ulong raw;
            fixed (byte* p = data)
            {
                SyncshellException.Check(Native.syncshell_chain_decode(p, NativeBytes.Len(data), &raw));
            }
            return new TokenChain(raw);
        }

        /// <summary>The chain's encoding.</summary>
        public byte[] Encode()
        {
            ulong bytes;
            using (var l = Use())
            {
                SyncshellException.Check(Native.syncshell_chain_encode(l.Raw, &bytes));
            }
            return NativeBytes.Take(bytes);
        }

        /// <summary>Checks that the chain admits <paramref name="peer"/> to the shell of <paramref name="revocations"/> with no revoked key in it, and returns the role.</summary>
        public Role Verify(RevocationSet revocations, string peer, ulong nowMs)
        {
            uint role;
            using (var l = Use())
            using (var r = revocations.Use())
            {
                fixed (byte* p = Utf8.NulTerminated(peer))
                {
                    SyncshellException.Check(Native.syncshell_chain_verify(l.Raw, r.Raw, p, nowMs, &role));
                }
            }
            return (Role)role;
        }
    }

    /// <summary>An invite code (it holds the invite secret).</summary>
    public sealed unsafe class Invite : Handle
    {
        internal Invite(ulong raw) : base(raw) { }

        /// <inheritdoc/>
        protected override Status Free(ulong raw) { return Native.syncshell_invite_free(raw); }

        /// <summary>Makes an invite for up to <paramref name="maxUses"/> joiners with <paramref name="role"/> (validForMs 0: 7 days; hints may be null).</summary>
        public static Invite Create(RevocationSet revocations, Identity inviter, TokenChain inviterChain, Role role, uint maxUses, ulong validForMs, byte[] hints, ulong nowMs)
        {
            ulong raw;
            using (var g = revocations.Use())
            using (var i = inviter.Use())
            using (var c = inviterChain.Use())
            {
                fixed (byte* h = hints)
                {
                    SyncshellException.Check(Native.syncshell_invite_create(g.Raw, i.Raw, c.Raw, (uint)role, maxUses, validForMs, h, NativeBytes.Len(hints), nowMs, &raw));
                }
            }
            return new Invite(raw);
        }

        /// <summary>Parses an invite's text form.</summary>
        public static Invite Parse(string text)
        {
            ulong raw;
            fixed (byte* t = Utf8.NulTerminated(text))
            {
                SyncshellException.Check(Native.syncshell_invite_parse(t, &raw));
            }
            return new Invite(raw);
        }

        /// <summary>The invite's text form ("syncshell-invite-..."): whoever reads it can join.</summary>
        public string Text()
        {
            ulong text;
            using (var l = Use())
            {
                SyncshellException.Check(Native.syncshell_invite_text(l.Raw, &text));
            }
            return NativeBytes.TakeString(text);
        }

        /// <summary>The genesis of the shell the invite is for.</summary>
        public Genesis Genesis()
        {
            ulong raw;
            using (var l = Use())
            {
                SyncshellException.Check(Native.syncshell_invite_genesis(l.Raw, &raw));
            }
            return new Genesis(raw);
        }

        /// <summary>The join request <paramref name="joiner"/> sends to the inviter.</summary>
        public byte[] JoinRequest(Identity joiner, ulong nowMs)
        {
            ulong bytes;
            using (var l = Use())
            using (var j = joiner.Use())
            {
                SyncshellException.Check(Native.syncshell_invite_join_request(l.Raw, j.Raw, nowMs, &bytes));
            }
            return NativeBytes.Take(bytes);
        }
    }

    /// <summary>An invite ledger: the use counts of the invites its holder accepts.</summary>
    public sealed unsafe class InviteLedger : Handle
    {
        internal InviteLedger(ulong raw) : base(raw) { }

        /// <inheritdoc/>
        protected override Status Free(ulong raw) { return Native.syncshell_ledger_free(raw); }

        /// <summary>A new, empty ledger.</summary>
        public static InviteLedger New()
        {
            ulong raw;
            SyncshellException.Check(Native.syncshell_ledger_new(&raw));
            return new InviteLedger(raw);
        }

        /// <summary>Decodes a saved ledger.</summary>
        public static InviteLedger Decode(byte[] data)
        {
            ulong raw;
            fixed (byte* p = data)
            {
                SyncshellException.Check(Native.syncshell_ledger_decode(p, NativeBytes.Len(data), &raw));
            }
            return new InviteLedger(raw);
        }

        /// <summary>The ledger's encoding, to save across restarts.</summary>
        public byte[] Encode()
        {
            ulong bytes;
            using (var l = Use())
            {
                SyncshellException.Check(Native.syncshell_ledger_encode(l.Raw, &bytes));
            }
            return NativeBytes.Take(bytes);
        }

        /// <summary>Accepts a join request as the invite's inviter (checked against the shell's revocation set) and issues the joiner's chain.</summary>
        public TokenChain Accept(RevocationSet revocations, Identity acceptor, TokenChain acceptorChain, byte[] request, ulong nowMs)
        {
            ulong raw;
            using (var l = Use())
            using (var g = revocations.Use())
            using (var a = acceptor.Use())
            using (var c = acceptorChain.Use())
            {
                fixed (byte* r = request)
                {
                    SyncshellException.Check(Native.syncshell_ledger_accept(l.Raw, g.Raw, a.Raw, c.Raw, r, NativeBytes.Len(request), nowMs, &raw));
                }
            }
            return new TokenChain(raw);
        }
    }

    /// <summary>Tombstones: signed revocations of a member.</summary>
    public static unsafe class Tombstone
    {
        /// <summary>Signs a tombstone revoking <paramref name="revoked"/> (peer id), to spread to every member.</summary>
        public static byte[] Issue(RevocationSet revocations, Identity issuer, TokenChain issuerChain, string revoked, RevocationReason reason, ulong nowMs)
        {
            ulong bytes;
            using (var g = revocations.Use())
            using (var i = issuer.Use())
            using (var c = issuerChain.Use())
            {
                fixed (byte* r = Utf8.NulTerminated(revoked))
                {
                    SyncshellException.Check(Native.syncshell_tombstone_issue(g.Raw, i.Raw, c.Raw, r, (uint)reason, nowMs, &bytes));
                }
            }
            return NativeBytes.Take(bytes);
        }
    }

    /// <summary>The grow-only set of a shell's tombstones.</summary>
    public sealed unsafe class RevocationSet : Handle
    {
        internal RevocationSet(ulong raw) : base(raw) { }

        /// <inheritdoc/>
        protected override Status Free(ulong raw) { return Native.syncshell_revocations_free(raw); }

        /// <summary>A new, empty set for the shell of <paramref name="genesis"/>.</summary>
        public static RevocationSet New(Genesis genesis)
        {
            ulong raw;
            using (var g = genesis.Use())
            {
                SyncshellException.Check(Native.syncshell_revocations_new(g.Raw, &raw));
            }
            return new RevocationSet(raw);
        }

        /// <summary>Decodes a saved set, verifying every tombstone.</summary>
        public static RevocationSet Decode(Genesis genesis, byte[] data)
        {
            ulong raw;
            using (var g = genesis.Use())
            {
                fixed (byte* p = data)
                {
                    SyncshellException.Check(Native.syncshell_revocations_decode(g.Raw, p, NativeBytes.Len(data), &raw));
                }
            }
            return new RevocationSet(raw);
        }

        /// <summary>Issues a tombstone checked against this set (same as Tombstone.Issue with this set).</summary>
        public byte[] IssueTombstone(Identity issuer, TokenChain issuerChain, string revoked, RevocationReason reason, ulong nowMs)
        {
            return Tombstone.Issue(this, issuer, issuerChain, revoked, reason, nowMs);
        }

        /// <summary>The set's encoding.</summary>
        public byte[] Encode()
        {
            ulong bytes;
            using (var l = Use())
            {
                SyncshellException.Check(Native.syncshell_revocations_encode(l.Raw, &bytes));
            }
            return NativeBytes.Take(bytes);
        }

        /// <summary>Verifies and adds a tombstone; true if it was new.</summary>
        public bool Insert(byte[] tombstone)
        {
            bool added;
            using (var l = Use())
            {
                fixed (byte* p = tombstone)
                {
                    SyncshellException.Check(Native.syncshell_revocations_insert(l.Raw, p, NativeBytes.Len(tombstone), &added));
                }
            }
            return added;
        }

        /// <summary>Adds every tombstone of <paramref name="other"/>; returns how many were new.</summary>
        public ulong Merge(RevocationSet other)
        {
            UIntPtr added;
            using (var l = Use())
            using (var o = other.Use())
            {
                SyncshellException.Check(Native.syncshell_revocations_merge(l.Raw, o.Raw, &added));
            }
            return added.ToUInt64();
        }

        /// <summary>Whether <paramref name="peer"/> (peer id) is revoked.</summary>
        public bool IsRevoked(string peer)
        {
            bool revoked;
            using (var l = Use())
            {
                fixed (byte* p = Utf8.NulTerminated(peer))
                {
                    SyncshellException.Check(Native.syncshell_revocations_is_revoked(l.Raw, p, &revoked));
                }
            }
            return revoked;
        }

        /// <summary>The number of tombstones.</summary>
        public ulong Count
        {
            get
            {
                UIntPtr len;
                using (var l = Use())
                {
                    SyncshellException.Check(Native.syncshell_revocations_len(l.Raw, &len));
                }
                return len.ToUInt64();
            }
        }
    }

    /// <summary>A shell's phonebook, with the clock that stamps this member's own entries.</summary>
    public sealed unsafe class Phonebook : Handle
    {
        internal Phonebook(ulong raw) : base(raw) { }

        /// <inheritdoc/>
        protected override Status Free(ulong raw) { return Native.syncshell_phonebook_free(raw); }

        /// <summary>A new, empty phonebook for the shell of <paramref name="genesis"/>.</summary>
        public static Phonebook New(Genesis genesis)
        {
            ulong raw;
            using (var g = genesis.Use())
            {
                SyncshellException.Check(Native.syncshell_phonebook_new(g.Raw, &raw));
            }
            return new Phonebook(raw);
        }

        /// <summary>Decodes a snapshot, verifying everything in it.</summary>
        public static Phonebook Decode(Genesis genesis, byte[] snapshot)
        {
            ulong raw;
            using (var g = genesis.Use())
            {
                fixed (byte* p = snapshot)
                {
                    SyncshellException.Check(Native.syncshell_phonebook_decode(g.Raw, p, NativeBytes.Len(snapshot), &raw));
                }
            }
            return new Phonebook(raw);
        }

        /// <summary>A snapshot of the whole book (entries and tombstones).</summary>
        public byte[] Encode()
        {
            ulong bytes;
            using (var l = Use())
            {
                SyncshellException.Check(Native.syncshell_phonebook_encode(l.Raw, &bytes));
            }
            return NativeBytes.Take(bytes);
        }

        /// <summary>Signs and inserts <paramref name="member"/>'s own entry and returns its encoding, to send to peers (ttlMs 0: 24 h).</summary>
        public byte[] Publish(Identity member, TokenChain chain, string displayName, Presence presence, byte[] hints, ulong ttlMs, ulong nowMs)
        {
            ulong bytes;
            using (var l = Use())
            using (var m = member.Use())
            using (var c = chain.Use())
            {
                fixed (byte* n = Utf8.NulTerminated(displayName ?? ""), h = hints)
                {
                    SyncshellException.Check(Native.syncshell_phonebook_publish(l.Raw, m.Raw, c.Raw, n, (uint)presence, h, NativeBytes.Len(hints), ttlMs, nowMs, &bytes));
                }
            }
            return NativeBytes.Take(bytes);
        }

        /// <summary>Verifies and merges one entry from a peer; returns what it changed.</summary>
        public Change Insert(byte[] entry)
        {
            uint change;
            using (var l = Use())
            {
                fixed (byte* p = entry)
                {
                    SyncshellException.Check(Native.syncshell_phonebook_insert(l.Raw, p, NativeBytes.Len(entry), &change));
                }
            }
            return (Change)change;
        }

        /// <summary>Verifies and applies a tombstone; true if it was new.</summary>
        public bool Revoke(byte[] tombstone)
        {
            bool added;
            using (var l = Use())
            {
                fixed (byte* p = tombstone)
                {
                    SyncshellException.Check(Native.syncshell_phonebook_revoke(l.Raw, p, NativeBytes.Len(tombstone), &added));
                }
            }
            return added;
        }

        /// <summary>Merges a peer's snapshot; returns how many entries were added or updated.</summary>
        public ulong Merge(byte[] snapshot)
        {
            UIntPtr changed;
            using (var l = Use())
            {
                fixed (byte* p = snapshot)
                {
                    SyncshellException.Check(Native.syncshell_phonebook_merge(l.Raw, p, NativeBytes.Len(snapshot), &changed));
                }
            }
            return changed.ToUInt64();
        }

        /// <summary>The entries shown at <paramref name="nowMs"/>, ordered by peer id; dispose each.</summary>
        public List<PhonebookEntry> Entries(ulong nowMs)
        {
            ulong list;
            using (var l = Use())
            {
                SyncshellException.Check(Native.syncshell_phonebook_entries(l.Raw, nowMs, &list));
            }
            return NativeBytes.TakeList(list, raw => new PhonebookEntry(raw));
        }

        /// <summary>Drops entries expired long ago; returns how many.</summary>
        public ulong Gc(ulong nowMs)
        {
            UIntPtr removed;
            using (var l = Use())
            {
                SyncshellException.Check(Native.syncshell_phonebook_gc(l.Raw, nowMs, &removed));
            }
            return removed.ToUInt64();
        }

        /// <summary>Starts a delta sync: the first message to send to the peer.</summary>
        public byte[] SyncStart()
        {
            ulong bytes;
            using (var l = Use())
            {
                SyncshellException.Check(Native.syncshell_phonebook_sync_start(l.Raw, &bytes));
            }
            return NativeBytes.Take(bytes);
        }

        /// <summary>Handles one delta-sync message; returns the replies to send back (empty when the sync is complete).</summary>
        public List<byte[]> SyncHandle(byte[] message)
        {
            ulong list;
            using (var l = Use())
            {
                fixed (byte* p = message)
                {
                    SyncshellException.Check(Native.syncshell_phonebook_sync_handle(l.Raw, p, NativeBytes.Len(message), &list));
                }
            }
            return NativeBytes.TakeList(list, NativeBytes.Take);
        }
    }

    /// <summary>One verified phonebook entry.</summary>
    public sealed unsafe class PhonebookEntry : Handle
    {
        internal PhonebookEntry(ulong raw) : base(raw) { }

        /// <inheritdoc/>
        protected override Status Free(ulong raw) { return Native.syncshell_entry_free(raw); }

        /// <summary>The entry's peer id.</summary>
        public string PeerId
        {
            get
            {
                ulong text;
                using (var l = Use())
                {
                    SyncshellException.Check(Native.syncshell_entry_peer_id(l.Raw, &text));
                }
                return NativeBytes.TakeString(text);
            }
        }

        /// <summary>The name to show (display name, or the friendly name made from the peer id).</summary>
        public string Name
        {
            get
            {
                ulong text;
                using (var l = Use())
                {
                    SyncshellException.Check(Native.syncshell_entry_name(l.Raw, &text));
                }
                return NativeBytes.TakeString(text);
            }
        }

        /// <summary>The entry's presence, role and last-seen time.</summary>
        public void GetStatus(out Presence presence, out Role role, out ulong lastSeenMs)
        {
            uint p, r;
            ulong seen;
            using (var l = Use())
            {
                SyncshellException.Check(Native.syncshell_entry_status(l.Raw, &p, &r, &seen));
            }
            presence = (Presence)p;
            role = (Role)r;
            lastSeenMs = seen;
        }

        /// <summary>The entry's presence.</summary>
        public Presence Presence
        {
            get { Presence p; Role r; ulong s; GetStatus(out p, out r, out s); return p; }
        }

        /// <summary>The entry's role.</summary>
        public Role Role
        {
            get { Presence p; Role r; ulong s; GetStatus(out p, out r, out s); return r; }
        }

        /// <summary>The entry's contact hints.</summary>
        public byte[] Hints()
        {
            ulong bytes;
            using (var l = Use())
            {
                SyncshellException.Check(Native.syncshell_entry_hints(l.Raw, &bytes));
            }
            return NativeBytes.Take(bytes);
        }
    }

    /// <summary>A replay guard: share one between all the handshakes of a node.</summary>
    public sealed unsafe class ReplayGuard : Handle
    {
        internal ReplayGuard(ulong raw) : base(raw) { }

        /// <inheritdoc/>
        protected override Status Free(ulong raw) { return Native.syncshell_replay_guard_free(raw); }

        /// <summary>A new, empty replay guard.</summary>
        public static ReplayGuard New()
        {
            ulong raw;
            SyncshellException.Check(Native.syncshell_replay_guard_new(&raw));
            return new ReplayGuard(raw);
        }
    }

    /// <summary>One mutual handshake; the host carries its messages.</summary>
    public sealed unsafe class Handshake : Handle
    {
        internal Handshake(ulong raw) : base(raw) { }

        /// <inheritdoc/>
        protected override Status Free(ulong raw) { return Native.syncshell_handshake_free(raw); }

        /// <summary>Starts as the initiator over a connection with <paramref name="channelBinding"/>; the hello is in PollTransmit.</summary>
        public static Handshake Initiate(Identity identity, TokenChain chain, RevocationSet revocations, byte[] channelBinding, ulong nowMs)
        {
            ulong raw;
            using (var i = identity.Use())
            using (var c = chain.Use())
            using (var r = UseOptional(revocations))
            {
                fixed (byte* b = channelBinding)
                {
                    SyncshellException.Check(Native.syncshell_handshake_initiate(i.Raw, c.Raw, r.Raw, b, NativeBytes.Len(channelBinding), nowMs, &raw));
                }
            }
            return new Handshake(raw);
        }

        /// <summary>Starts as the responder, waiting for the initiator's hello.</summary>
        public static Handshake Respond(byte[] channelBinding, ulong nowMs)
        {
            ulong raw;
            fixed (byte* b = channelBinding)
            {
                SyncshellException.Check(Native.syncshell_handshake_respond(b, NativeBytes.Len(channelBinding), nowMs, &raw));
            }
            return new Handshake(raw);
        }

        /// <summary>Handles one message from the other side; throws if the handshake failed (send PollTransmit's output anyway).</summary>
        public void Handle(Identity identity, TokenChain chain, RevocationSet revocations, ReplayGuard guard, byte[] message, ulong nowMs)
        {
            using (var l = Use())
            using (var i = identity.Use())
            using (var c = chain.Use())
            using (var r = UseOptional(revocations))
            using (var g = guard.Use())
            {
                fixed (byte* m = message)
                {
                    SyncshellException.Check(Native.syncshell_handshake_handle(l.Raw, i.Raw, c.Raw, r.Raw, g.Raw, m, NativeBytes.Len(message), nowMs));
                }
            }
        }

        /// <summary>Fails the handshake if <paramref name="nowMs"/> is past its deadline.</summary>
        public void HandleTimeout(ulong nowMs)
        {
            using (var l = Use())
            {
                SyncshellException.Check(Native.syncshell_handshake_handle_timeout(l.Raw, nowMs));
            }
        }

        /// <summary>The next message to send to the other side, or null when there is none.</summary>
        public byte[] PollTransmit()
        {
            ulong bytes;
            using (var l = Use())
            {
                SyncshellException.Check(Native.syncshell_handshake_poll_transmit(l.Raw, &bytes));
            }
            return NativeBytes.Take(bytes);
        }

        /// <summary>The handshake's state.</summary>
        public HandshakeState State
        {
            get
            {
                uint state;
                using (var l = Use())
                {
                    SyncshellException.Check(Native.syncshell_handshake_state(l.Raw, &state));
                }
                return (HandshakeState)state;
            }
        }

        /// <summary>The 32-byte session key (once Done): the key a transfer between the two takes.</summary>
        public byte[] SessionKey()
        {
            ulong bytes;
            using (var l = Use())
            {
                SyncshellException.Check(Native.syncshell_handshake_session_key(l.Raw, &bytes));
            }
            return NativeBytes.Take(bytes);
        }

        /// <summary>The authenticated peer's id, and its role in <paramref name="role"/>.</summary>
        public string Peer(out Role role)
        {
            ulong text;
            uint r;
            using (var l = Use())
            {
                SyncshellException.Check(Native.syncshell_handshake_peer(l.Raw, &text, &r));
            }
            role = (Role)r;
            return NativeBytes.TakeString(text);
        }
    }

    /// <summary>An async runtime with its own worker threads; transports, connections and transfers run on it.</summary>
    public sealed unsafe class Runtime : Handle
    {
        internal Runtime(ulong raw) : base(raw) { }

        /// <inheritdoc/>
        protected override Status Free(ulong raw) { return Native.syncshell_runtime_free(raw); }

        /// <summary>A new runtime with <paramref name="workerThreads"/> threads (0: 2).</summary>
        public static Runtime New(uint workerThreads = 0)
        {
            ulong raw;
            SyncshellException.Check(Native.syncshell_runtime_new(workerThreads, &raw));
            return new Runtime(raw);
        }
    }

    /// <summary>WebRTC settings (default: bind 127.0.0.1 only, no STUN/TURN, no mDNS).</summary>
    public sealed unsafe class WebRtcConfig : Handle
    {
        internal WebRtcConfig(ulong raw) : base(raw) { }

        /// <inheritdoc/>
        protected override Status Free(ulong raw) { return Native.syncshell_webrtc_config_free(raw); }

        /// <summary>The default settings.</summary>
        public static WebRtcConfig New()
        {
            ulong raw;
            SyncshellException.Check(Native.syncshell_webrtc_config_new(&raw));
            return new WebRtcConfig(raw);
        }

        /// <summary>Replaces the UDP bind addresses with a comma-separated list.</summary>
        public void SetBind(string addresses)
        {
            using (var l = Use())
            {
                fixed (byte* a = Utf8.NulTerminated(addresses))
                {
                    SyncshellException.Check(Native.syncshell_webrtc_config_set_bind(l.Raw, a));
                }
            }
        }

        /// <summary>Adds a STUN or TURN server (username and credential may be null).</summary>
        public void AddIceServer(string url, string username = null, string credential = null)
        {
            using (var l = Use())
            {
                fixed (byte* u = Utf8.NulTerminated(url), n = Utf8.NulTerminated(username), c = Utf8.NulTerminated(credential))
                {
                    SyncshellException.Check(Native.syncshell_webrtc_config_add_ice_server(l.Raw, u, n, c));
                }
            }
        }

        /// <summary>Turns trickle ICE on or off (both ends must agree).</summary>
        public void SetTrickle(bool trickle)
        {
            using (var l = Use())
            {
                SyncshellException.Check(Native.syncshell_webrtc_config_set_trickle(l.Raw, trickle));
            }
        }

        /// <summary>Sets how long connecting may take (0: the default of 15 s).</summary>
        public void SetConnectTimeout(uint timeoutMs)
        {
            using (var l = Use())
            {
                SyncshellException.Check(Native.syncshell_webrtc_config_set_connect_timeout(l.Raw, timeoutMs));
            }
        }
    }

    /// <summary>An in-memory network for tests and demos without sockets.</summary>
    public sealed unsafe class MemNetwork : Handle
    {
        internal MemNetwork(ulong raw) : base(raw) { }

        /// <inheritdoc/>
        protected override Status Free(ulong raw) { return Native.syncshell_mem_network_free(raw); }

        /// <summary>A new network on <paramref name="runtime"/> with seeded latency, jitter and a bandwidth cap (0: none).</summary>
        public static MemNetwork New(Runtime runtime, ulong seed, uint latencyMs = 0, uint jitterMs = 0, ulong bandwidth = 0)
        {
            ulong raw;
            using (var r = runtime.Use())
            {
                SyncshellException.Check(Native.syncshell_mem_network_new(r.Raw, seed, latencyMs, jitterMs, bandwidth, &raw));
            }
            return new MemNetwork(raw);
        }

        /// <summary>Breaks every connection of the endpoint at <paramref name="address"/>.</summary>
        public void Kill(string address)
        {
            using (var l = Use())
            {
                fixed (byte* a = Utf8.NulTerminated(address))
                {
                    SyncshellException.Check(Native.syncshell_mem_network_kill(l.Raw, a));
                }
            }
        }
    }

    /// <summary>What Transport.Poll returned. The caller owns Connection (when not null) and disposes it.</summary>
    public sealed class TransportEvent
    {
        /// <summary>The kind of event.</summary>
        public TransportEventKind Kind { get; private set; }

        /// <summary>The peer's address: the destination of a Signal, the target of Connect; null for Accepted.</summary>
        public string Peer { get; private set; }

        /// <summary>The signaling blob (Signal) or the reason as UTF-8 (ConnectFailed); else null.</summary>
        public byte[] Data { get; private set; }

        /// <summary>The new connection (Connected, Accepted); else null.</summary>
        public Connection Connection { get; private set; }

        internal TransportEvent(TransportEventKind kind, string peer, byte[] data, Connection connection)
        {
            Kind = kind;
            Peer = peer;
            Data = data;
            Connection = connection;
        }
    }

    /// <summary>This endpoint's way to connect to peers and accept them (WebRTC or in-memory).</summary>
    public sealed unsafe class Transport : Handle
    {
        internal Transport(ulong raw) : base(raw) { }

        /// <inheritdoc/>
        protected override Status Free(ulong raw) { return Native.syncshell_transport_free(raw); }

        /// <summary>A WebRTC transport reachable at <paramref name="address"/> (its name in signaling); config null for the defaults.</summary>
        public static Transport NewWebRtc(Runtime runtime, WebRtcConfig config, string address)
        {
            ulong raw;
            using (var r = runtime.Use())
            using (var c = UseOptional(config))
            {
                fixed (byte* a = Utf8.NulTerminated(address))
                {
                    SyncshellException.Check(Native.syncshell_transport_new_webrtc(r.Raw, c.Raw, a, &raw));
                }
            }
            return new Transport(raw);
        }

        /// <summary>An in-memory transport at <paramref name="address"/> on <paramref name="network"/>.</summary>
        public static Transport NewMem(MemNetwork network, string address)
        {
            ulong raw;
            using (var n = network.Use())
            {
                fixed (byte* a = Utf8.NulTerminated(address))
                {
                    SyncshellException.Check(Native.syncshell_transport_new_mem(n.Raw, a, &raw));
                }
            }
            return new Transport(raw);
        }

        /// <summary>Hands over a signaling blob the transport at <paramref name="from"/> sent; false if the queue is full (poll, then retry).</summary>
        public bool Signal(string from, byte[] blob)
        {
            Status s;
            using (var l = Use())
            {
                fixed (byte* f = Utf8.NulTerminated(from), b = blob)
                {
                    s = Native.syncshell_transport_signal(l.Raw, f, b, NativeBytes.Len(blob));
                }
            }
            if (s == Status.ErrWouldBlock)
            {
                return false;
            }
            SyncshellException.Check(s);
            return true;
        }

        /// <summary>Starts connecting to <paramref name="address"/>; the outcome comes as a Connected or ConnectFailed event.</summary>
        public void Connect(string address)
        {
            using (var l = Use())
            {
                fixed (byte* a = Utf8.NulTerminated(address))
                {
                    SyncshellException.Check(Native.syncshell_transport_connect(l.Raw, a));
                }
            }
        }

        /// <summary>Waits up to <paramref name="timeoutMs"/> (0: just look) for the next event; null if none came.</summary>
        public TransportEvent Poll(uint timeoutMs)
        {
            uint kind;
            ulong peer, data, conn;
            Status s;
            using (var l = Use())
            {
                s = Native.syncshell_transport_poll(l.Raw, timeoutMs, &kind, &peer, &data, &conn);
            }
            if (s == Status.ErrTimeout)
            {
                return null;
            }
            SyncshellException.Check(s);
            Connection connection = conn == 0 ? null : new Connection(conn);
            // Take both byte handles (each is freed even if reading it fails).
            Exception failure = null;
            string peerText = null;
            byte[] blob = null;
            try { peerText = NativeBytes.TakeString(peer); } catch (Exception e) { failure = e; }
            try { blob = NativeBytes.Take(data); } catch (Exception e) { failure = failure ?? e; }
            if (failure != null)
            {
                if (connection != null)
                {
                    connection.Dispose();
                }
                throw failure;
            }
            return new TransportEvent((TransportEventKind)kind, peerText, blob, connection);
        }
    }

    /// <summary>A connection to one peer: reliable, ordered messages.</summary>
    public sealed unsafe class Connection : Handle
    {
        internal Connection(ulong raw) : base(raw) { }

        /// <inheritdoc/>
        protected override Status Free(ulong raw) { return Native.syncshell_connection_free(raw); }

        /// <summary>Sends one message (up to 16 MiB), waiting while the peer is slow.</summary>
        public void Send(byte[] data)
        {
            using (var l = Use())
            {
                fixed (byte* p = data)
                {
                    SyncshellException.Check(Native.syncshell_connection_send(l.Raw, p, NativeBytes.Len(data)));
                }
            }
        }

        /// <summary>Sends one message if there is room now; false (nothing sent) if the send buffer is full.</summary>
        public bool TrySend(byte[] data)
        {
            Status s;
            using (var l = Use())
            {
                fixed (byte* p = data)
                {
                    s = Native.syncshell_connection_try_send(l.Raw, p, NativeBytes.Len(data));
                }
            }
            if (s == Status.ErrWouldBlock)
            {
                return false;
            }
            SyncshellException.Check(s);
            return true;
        }

        /// <summary>Waits up to <paramref name="timeoutMs"/> for the next message; null on timeout. Throws (Status ErrClosed) once the peer closed and everything was received.</summary>
        public byte[] Recv(uint timeoutMs)
        {
            ulong bytes;
            Status s;
            using (var l = Use())
            {
                s = Native.syncshell_connection_recv(l.Raw, timeoutMs, &bytes);
            }
            if (s == Status.ErrTimeout)
            {
                return null;
            }
            SyncshellException.Check(s);
            return NativeBytes.Take(bytes);
        }

        /// <summary>The channel binding the handshake signs.</summary>
        public byte[] ChannelBinding()
        {
            ulong bytes;
            using (var l = Use())
            {
                SyncshellException.Check(Native.syncshell_connection_channel_binding(l.Raw, &bytes));
            }
            return NativeBytes.Take(bytes);
        }

        /// <summary>Message bytes sent and received so far.</summary>
        public void Stats(out ulong bytesSent, out ulong bytesReceived)
        {
            ulong sent, received;
            using (var l = Use())
            {
                SyncshellException.Check(Native.syncshell_connection_stats(l.Raw, &sent, &received));
            }
            bytesSent = sent;
            bytesReceived = received;
        }

        /// <summary>Closes the connection: the peer receives what was sent, then sees the close (waits at most 10 s). Unlike SafeHandle.Close it does not free the handle: Dispose does.</summary>
        public new void Close()
        {
            using (var l = Use())
            {
                SyncshellException.Check(Native.syncshell_connection_close(l.Raw));
            }
        }
    }

    /// <summary>An encrypted, resumable folder transfer, over a connection or as frames the host carries.</summary>
    public sealed unsafe class Transfer : Handle
    {
        internal Transfer(ulong raw) : base(raw) { }

        /// <inheritdoc/>
        protected override Status Free(ulong raw) { return Native.syncshell_transfer_free(raw); }

        /// <summary>True once NextFrame saw that the transfer ended and every frame was taken.</summary>
        public bool FramesDrained { get; private set; }

        /// <summary>Starts sending <paramref name="folder"/> over <paramref name="connection"/> under the 32-byte session key.</summary>
        public static Transfer Send(Connection connection, byte[] key, string folder)
        {
            ulong raw;
            using (var c = connection.Use())
            {
                fixed (byte* k = key, f = Utf8.NulTerminated(folder))
                {
                    SyncshellException.Check(Native.syncshell_transfer_send(c.Raw, k, NativeBytes.Len(key), f, &raw));
                }
            }
            return new Transfer(raw);
        }

        /// <summary>Starts receiving into <paramref name="folder"/> over <paramref name="connection"/> from <paramref name="sender"/>, the peer id the handshake that gave <paramref name="key"/> authenticated (Handshake.Peer), so partial files an interrupted transfer from the same sender left are resumed; with null nothing is resumed (maxTotalSize 0: 16 GiB).</summary>
        public static Transfer Receive(Connection connection, byte[] key, string sender, string folder, ulong maxTotalSize = 0)
        {
            ulong raw;
            using (var c = connection.Use())
            {
                fixed (byte* k = key, s = Utf8.NulTerminated(sender), f = Utf8.NulTerminated(folder))
                {
                    SyncshellException.Check(Native.syncshell_transfer_receive(c.Raw, k, NativeBytes.Len(key), s, f, maxTotalSize, &raw));
                }
            }
            return new Transfer(raw);
        }

        /// <summary>Starts sending <paramref name="folder"/> as frames the host carries (NextFrame, HandleFrame).</summary>
        public static Transfer SendFrames(Runtime runtime, byte[] key, string folder)
        {
            ulong raw;
            using (var r = runtime.Use())
            {
                fixed (byte* k = key, f = Utf8.NulTerminated(folder))
                {
                    SyncshellException.Check(Native.syncshell_transfer_send_frames(r.Raw, k, NativeBytes.Len(key), f, &raw));
                }
            }
            return new Transfer(raw);
        }

        /// <summary>Starts receiving into <paramref name="folder"/> from frames the host carries, sent by <paramref name="sender"/> (a peer id, as for Receive: partial files are resumed only for the same sender; null resumes nothing).</summary>
        public static Transfer ReceiveFrames(Runtime runtime, byte[] key, string sender, string folder, ulong maxTotalSize = 0)
        {
            ulong raw;
            using (var r = runtime.Use())
            {
                fixed (byte* k = key, s = Utf8.NulTerminated(sender), f = Utf8.NulTerminated(folder))
                {
                    SyncshellException.Check(Native.syncshell_transfer_receive_frames(r.Raw, k, NativeBytes.Len(key), s, f, maxTotalSize, &raw));
                }
            }
            return new Transfer(raw);
        }

        /// <summary>The next frame to carry to the peer, or null if none came within <paramref name="timeoutMs"/> or none will come (see FramesDrained).</summary>
        public byte[] NextFrame(uint timeoutMs)
        {
            ulong bytes;
            Status s;
            using (var l = Use())
            {
                s = Native.syncshell_transfer_next_frame(l.Raw, timeoutMs, &bytes);
            }
            if (s == Status.ErrTimeout)
            {
                return null;
            }
            if (s == Status.ErrClosed)
            {
                FramesDrained = true;
                return null;
            }
            SyncshellException.Check(s);
            return NativeBytes.Take(bytes);
        }

        /// <summary>Delivers one frame from the peer; false if 64 frames wait already (take frames, then retry). Throws ErrClosed once the transfer ended.</summary>
        public bool HandleFrame(byte[] frame)
        {
            Status s;
            using (var l = Use())
            {
                fixed (byte* p = frame)
                {
                    s = Native.syncshell_transfer_handle_frame(l.Raw, p, NativeBytes.Len(frame));
                }
            }
            if (s == Status.ErrWouldBlock)
            {
                return false;
            }
            SyncshellException.Check(s);
            return true;
        }

        /// <summary>Bytes the receiver has and the total size (0 until the offer is known).</summary>
        public void Progress(out ulong bytesDone, out ulong bytesTotal)
        {
            ulong done, total;
            using (var l = Use())
            {
                SyncshellException.Check(Native.syncshell_transfer_progress(l.Raw, &done, &total));
            }
            bytesDone = done;
            bytesTotal = total;
        }

        /// <summary>Waits up to <paramref name="timeoutMs"/> (0: just look): true once the transfer succeeded, false while it runs; throws how it failed.</summary>
        public bool Wait(uint timeoutMs)
        {
            Status s;
            using (var l = Use())
            {
                s = Native.syncshell_transfer_wait(l.Raw, timeoutMs);
            }
            if (s == Status.ErrTimeout)
            {
                return false;
            }
            SyncshellException.Check(s);
            return true;
        }
    }
    /// <summary>The kind of a member's event (SYNCSHELL_MEMBER_EVENT_*).</summary>
    public enum MemberEventKind : uint
    {
        /// <summary>The member runs: Peer is its id, Text the shell's id.</summary>
        Ready = Native.SYNCSHELL_MEMBER_EVENT_READY,
        /// <summary>The start failed and the member stopped: Text says why, Value(0) is the Status.</summary>
        StartFailed = Native.SYNCSHELL_MEMBER_EVENT_START_FAILED,
        /// <summary>The join waits for the inviter Peer to come online; Value(0) is the timeout in ms.</summary>
        JoinWaiting = Native.SYNCSHELL_MEMBER_EVENT_JOIN_WAITING,
        /// <summary>The join succeeded: Peer is the inviter, Text the shell's id.</summary>
        Joined = Native.SYNCSHELL_MEMBER_EVENT_JOINED,
        /// <summary>No relay answers yet (Text: its URL); the member keeps trying.</summary>
        RelayWaiting = Native.SYNCSHELL_MEMBER_EVENT_RELAY_WAITING,
        /// <summary>The relay admitted the member.</summary>
        RelayUp = Native.SYNCSHELL_MEMBER_EVENT_RELAY_UP,
        /// <summary>A link to Peer (Name) is up: Value(0) dialled, Value(1) role, Value(2) handshake ms, Value(3) RTT µs; Text the network path.</summary>
        LinkUp = Native.SYNCSHELL_MEMBER_EVENT_LINK_UP,
        /// <summary>The link to Peer (Name) ended; Text says why (closed, revoked, expired, no answer, overloaded, stale).</summary>
        LinkDown = Native.SYNCSHELL_MEMBER_EVENT_LINK_DOWN,
        /// <summary>A connection's handshake failed: Text says why.</summary>
        Refused = Native.SYNCSHELL_MEMBER_EVENT_REFUSED,
        /// <summary>A chat line from Peer (Name): Text; Value(0) 0 text, 1 typing, 2 presence.</summary>
        Chat = Native.SYNCSHELL_MEMBER_EVENT_CHAT,
        /// <summary>Peer joined with one of this member's invites.</summary>
        Admitted = Native.SYNCSHELL_MEMBER_EVENT_ADMITTED,
        /// <summary>A join request of Peer was refused: Text says why.</summary>
        JoinRefused = Native.SYNCSHELL_MEMBER_EVENT_JOIN_REFUSED,
        /// <summary>Peer failed Value(0) times in a row and probably needs a new invite.</summary>
        NeedsInvite = Native.SYNCSHELL_MEMBER_EVENT_NEEDS_INVITE,
        /// <summary>The shared folder changed: Value(0) is its version.</summary>
        ShareChanged = Native.SYNCSHELL_MEMBER_EVENT_SHARE_CHANGED,
        /// <summary>A transfer of the shared folder to Peer started.</summary>
        Sending = Native.SYNCSHELL_MEMBER_EVENT_SENDING,
        /// <summary>The shared folder reached Peer: Value(0) files, Value(1) bytes.</summary>
        Sent = Native.SYNCSHELL_MEMBER_EVENT_SENT,
        /// <summary>A transfer to Peer failed (it resumes on the next link): Text says why.</summary>
        SendFailed = Native.SYNCSHELL_MEMBER_EVENT_SEND_FAILED,
        /// <summary>A transfer from Peer: Value(0) bytes done of Value(1).</summary>
        Progress = Native.SYNCSHELL_MEMBER_EVENT_PROGRESS,
        /// <summary>Peer's shared folder was received: Value(0) files received, Value(1) already there, Value(2) bytes, Value(3) size.</summary>
        Received = Native.SYNCSHELL_MEMBER_EVENT_RECEIVED,
        /// <summary>A file from Peer waits for approval: Text is its path, Value(0) its size.</summary>
        Waiting = Native.SYNCSHELL_MEMBER_EVENT_WAITING,
        /// <summary>Files Peer removed were moved out of the receive folder: Text their paths (one a line), Name the folder they went to.</summary>
        Removed = Native.SYNCSHELL_MEMBER_EVENT_REMOVED,
        /// <summary>A transfer from Peer failed (partial files are kept): Text says why.</summary>
        ReceiveFailed = Native.SYNCSHELL_MEMBER_EVENT_RECEIVE_FAILED,
        /// <summary>Something went wrong that is not about one member: Text.</summary>
        Error = Native.SYNCSHELL_MEMBER_EVENT_ERROR,
        /// <summary>The member stopped for good (revoked, expired): Text says why. Nothing follows.</summary>
        Stopped = Native.SYNCSHELL_MEMBER_EVENT_STOPPED,
    }

    /// <summary>One event of a member, copied out of the library.</summary>
    public sealed class MemberEvent
    {
        private readonly ulong[] values;

        internal MemberEvent(MemberEventKind kind, string peer, string name, string text, ulong[] values)
        {
            Kind = kind;
            Peer = peer;
            Name = name;
            Text = text;
            this.values = values;
        }

        /// <summary>What happened.</summary>
        public MemberEventKind Kind { get; private set; }
        /// <summary>The id of the member it is about, or null.</summary>
        public string Peer { get; private set; }
        /// <summary>That member's phonebook name, or null. It comes from another member: show it, never interpret it.</summary>
        public string Name { get; private set; }
        /// <summary>The event's text (see its kind), or null.</summary>
        public string Text { get; private set; }

        /// <summary>Value <paramref name="index"/> (0 to 3; see the kind).</summary>
        public ulong Value(int index)
        {
            return values[index];
        }

        /// <inheritdoc/>
        public override string ToString()
        {
            return string.Format("{0} peer={1} name={2} text={3} values={4},{5},{6},{7}",
                Kind, Peer, Name, Text, values[0], values[1], values[2], values[3]);
        }
    }

    /// <summary>How a member starts: its data folder, its key, its shell, relays and folders.</summary>
    public sealed class MemberOptions
    {
        /// <summary>The data folder (made if missing; one process at a time).</summary>
        public string DataFolder;
        /// <summary>The passphrase of the folder's key file (made on the first start). Or set Secret.</summary>
        public byte[] Passphrase;
        /// <summary>A 32-byte secret key the host keeps (for example under DPAPI): no key file is written.</summary>
        public byte[] Secret;
        /// <summary>Create a shell of this name (first start only).</summary>
        public string CreateShell;
        /// <summary>Join with this invite text (first start only).</summary>
        public string Invite;
        /// <summary>How long a join waits for the inviter, in ms (0: 120 s).</summary>
        public uint JoinTimeoutMs;
        /// <summary>The relays (ws:// or wss://), in order; none: those used last, then the invite's.</summary>
        public List<string> Relays = new List<string>();
        /// <summary>A PEM file of CA certificates for a wss:// relay with a private CA.</summary>
        public string CaFile;
        /// <summary>The name shown to other members.</summary>
        public string Name;
        /// <summary>The folder shared with members that receive (must exist).</summary>
        public string Share;
        /// <summary>The folder members' shared folders are received into, each sharer's into a folder named by its peer id.</summary>
        public string Receive;
        /// <summary>Received files wait for Approve/Deny (kept across restarts).</summary>
        public bool Approval;
        /// <summary>WebRTC settings (default: 127.0.0.1 only, plus the relay's STUN and TURN servers).</summary>
        public WebRtcConfig WebRtc;
    }

    /// <summary>A member of a shell, running on the library's own threads. Call Pump() once per
    /// framework tick: it raises the .NET events on the calling thread (no native thread ever
    /// enters managed code). Dispose stops the member; a plugin's own Dispose then calls
    /// Library.Shutdown().</summary>
    public sealed unsafe class SyncshellMember : IDisposable
    {
        private sealed class MemberHandle : Handle
        {
            internal MemberHandle(ulong raw) : base(raw) { }

            protected override Status Free(ulong raw) { return Native.syncshell_member_free(raw); }
        }

        private sealed class OptionsHandle : Handle
        {
            internal OptionsHandle(ulong raw) : base(raw) { }

            protected override Status Free(ulong raw) { return Native.syncshell_member_options_free(raw); }
        }

        private readonly Runtime runtime;
        private readonly MemberHandle member;
        private bool stopped;

        /// <summary>Every event, before its own event below.</summary>
        public event Action<MemberEvent> Event;
        /// <summary>The member runs.</summary>
        public event Action<MemberEvent> Ready;
        /// <summary>The start failed; the member stopped.</summary>
        public event Action<MemberEvent> StartFailed;
        /// <summary>The join waits for the inviter.</summary>
        public event Action<MemberEvent> JoinWaiting;
        /// <summary>The join succeeded.</summary>
        public event Action<MemberEvent> Joined;
        /// <summary>A link is up.</summary>
        public event Action<MemberEvent> LinkUp;
        /// <summary>A link ended.</summary>
        public event Action<MemberEvent> LinkDown;
        /// <summary>A chat line, typing or presence.</summary>
        public event Action<MemberEvent> Chat;
        /// <summary>A joiner used one of this member's invites.</summary>
        public event Action<MemberEvent> Admitted;
        /// <summary>A received file waits for Approve or Deny; Text is its path: the sharer's peer id, '/', its path in the share.</summary>
        public event Action<MemberEvent> FileWaiting;
        /// <summary>A transfer's progress.</summary>
        public event Action<MemberEvent> Progress;
        /// <summary>A member's shared folder was received.</summary>
        public event Action<MemberEvent> Received;
        /// <summary>The member stopped for good (revoked, expired).</summary>
        public event Action<MemberEvent> Stopped;
        /// <summary>Something went wrong (a failed transfer, a file not stored).</summary>
        public event Action<MemberEvent> Error;

        private SyncshellMember(Runtime runtime, MemberHandle member)
        {
            this.runtime = runtime;
            this.member = member;
        }

        private static void Set(OptionsHandle o, Func<ulong, byte[], Status> call, string text)
        {
            if (text == null)
            {
                return;
            }
            using (var l = o.Use())
            {
                SyncshellException.Check(call(l.Raw, Utf8.NulTerminated(text)));
            }
        }

        private static Status WithText(byte[] text, Func<IntPtr, Status> call)
        {
            fixed (byte* t = text)
            {
                return call(new IntPtr(t));
            }
        }

        /// <summary>Starts a member. The local part runs now (the folder is locked, the key opened:
        /// throws SyncshellTrustException on a wrong passphrase, SyncshellStateException while another
        /// process uses the folder); the rest reports through Pump: Ready, or StartFailed.</summary>
        public static SyncshellMember Start(MemberOptions options, uint workerThreads = 2)
        {
            Library.EnsureCompatible();
            if (options == null || options.DataFolder == null)
            {
                throw new ArgumentException("options.DataFolder is required");
            }
            ulong raw;
            byte[] dir = Utf8.NulTerminated(options.DataFolder);
            fixed (byte* d = dir)
            {
                SyncshellException.Check(Native.syncshell_member_options_new(d, &raw));
            }
            using (var o = new OptionsHandle(raw))
            {
                using (var l = o.Use())
                {
                    if (options.Secret != null)
                    {
                        fixed (byte* k = options.Secret)
                        {
                            SyncshellException.Check(Native.syncshell_member_options_set_secret(l.Raw, k, NativeBytes.Len(options.Secret)));
                        }
                    }
                    else if (options.Passphrase != null)
                    {
                        fixed (byte* k = options.Passphrase)
                        {
                            SyncshellException.Check(Native.syncshell_member_options_set_passphrase(l.Raw, k, NativeBytes.Len(options.Passphrase)));
                        }
                    }
                    if (options.Invite != null)
                    {
                        SyncshellException.Check(WithText(Utf8.NulTerminated(options.Invite),
                            t => Native.syncshell_member_options_join(l.Raw, (byte*)t, options.JoinTimeoutMs)));
                    }
                    foreach (string relay in options.Relays)
                    {
                        SyncshellException.Check(WithText(Utf8.NulTerminated(relay),
                            t => Native.syncshell_member_options_add_relay(l.Raw, (byte*)t)));
                    }
                    SyncshellException.Check(Native.syncshell_member_options_set_approval(l.Raw, options.Approval));
                    if (options.WebRtc != null)
                    {
                        using (var w = options.WebRtc.Use())
                        {
                            SyncshellException.Check(Native.syncshell_member_options_set_webrtc(l.Raw, w.Raw));
                        }
                    }
                }
                Set(o, (h, t) => WithText(t, p => Native.syncshell_member_options_create_shell(h, (byte*)p)), options.CreateShell);
                Set(o, (h, t) => WithText(t, p => Native.syncshell_member_options_set_ca_file(h, (byte*)p)), options.CaFile);
                Set(o, (h, t) => WithText(t, p => Native.syncshell_member_options_set_name(h, (byte*)p)), options.Name);
                Set(o, (h, t) => WithText(t, p => Native.syncshell_member_options_set_share(h, (byte*)p)), options.Share);
                Set(o, (h, t) => WithText(t, p => Native.syncshell_member_options_set_receive(h, (byte*)p)), options.Receive);
                Runtime runtime = Runtime.New(workerThreads);
                try
                {
                    ulong m;
                    using (var l = o.Use())
                    using (var r = runtime.Use())
                    {
                        SyncshellException.Check(Native.syncshell_member_start(r.Raw, l.Raw, &m));
                    }
                    return new SyncshellMember(runtime, new MemberHandle(m));
                }
                catch
                {
                    runtime.Dispose();
                    throw;
                }
            }
        }

        /// <summary>This member's id.</summary>
        public string PeerId
        {
            get
            {
                ulong text;
                using (var l = member.Use())
                {
                    SyncshellException.Check(Native.syncshell_member_peer_id(l.Raw, &text));
                }
                return NativeBytes.TakeString(text);
            }
        }

        /// <summary>The number of members linked now.</summary>
        public int LinkCount
        {
            get
            {
                UIntPtr n;
                using (var l = member.Use())
                {
                    SyncshellException.Check(Native.syncshell_member_link_count(l.Raw, &n));
                }
                return (int)n.ToUInt64();
            }
        }

        /// <summary>Raises the events that arrived since the last call, at most <paramref name="max"/>,
        /// on this thread; returns how many. Call it once per framework tick.</summary>
        public int Pump(int max = 256)
        {
            int handled = 0;
            while (handled < max && !stopped)
            {
                ulong ev;
                Status s;
                using (var l = member.Use())
                {
                    s = Native.syncshell_member_poll_event(l.Raw, 0, &ev);
                }
                if (s == Status.ErrTimeout)
                {
                    break;
                }
                if (s == Status.ErrClosed)
                {
                    stopped = true;
                    break;
                }
                SyncshellException.Check(s);
                MemberEvent e = Read(ev);
                handled++;
                Raise(e);
            }
            return handled;
        }

        /// <summary>Whether the member stopped and every event was raised.</summary>
        public bool HasStopped
        {
            get { return stopped; }
        }

        private static MemberEvent Read(ulong ev)
        {
            try
            {
                uint kind;
                ulong peer, name, text;
                SyncshellException.Check(Native.syncshell_member_event_kind(ev, &kind));
                SyncshellException.Check(Native.syncshell_member_event_peer(ev, &peer));
                string p = NativeBytes.TakeString(peer);
                SyncshellException.Check(Native.syncshell_member_event_name(ev, &name));
                string n = NativeBytes.TakeString(name);
                SyncshellException.Check(Native.syncshell_member_event_text(ev, &text));
                string t = NativeBytes.TakeString(text);
                var values = new ulong[4];
                for (uint i = 0; i < 4; i++)
                {
                    ulong v;
                    SyncshellException.Check(Native.syncshell_member_event_value(ev, i, &v));
                    values[i] = v;
                }
                return new MemberEvent((MemberEventKind)kind, p, n, t, values);
            }
            finally
            {
                Native.syncshell_member_event_free(ev);
            }
        }

        private void Raise(MemberEvent e)
        {
            Fire(Event, e);
            switch (e.Kind)
            {
                case MemberEventKind.Ready: Fire(Ready, e); break;
                case MemberEventKind.StartFailed: Fire(StartFailed, e); break;
                case MemberEventKind.JoinWaiting: Fire(JoinWaiting, e); break;
                case MemberEventKind.Joined: Fire(Joined, e); break;
                case MemberEventKind.LinkUp: Fire(LinkUp, e); break;
                case MemberEventKind.LinkDown: Fire(LinkDown, e); break;
                case MemberEventKind.Chat: Fire(Chat, e); break;
                case MemberEventKind.Admitted: Fire(Admitted, e); break;
                case MemberEventKind.Waiting: Fire(FileWaiting, e); break;
                case MemberEventKind.Progress: Fire(Progress, e); break;
                case MemberEventKind.Received: Fire(Received, e); break;
                case MemberEventKind.Stopped: Fire(Stopped, e); break;
                case MemberEventKind.Error:
                case MemberEventKind.SendFailed:
                case MemberEventKind.ReceiveFailed:
                    Fire(Error, e);
                    break;
            }
        }

        private static void Fire(Action<MemberEvent> handler, MemberEvent e)
        {
            if (handler != null)
            {
                handler(e);
            }
        }

        /// <summary>A new invite's text for <paramref name="role"/> (Member or Admin), usable
        /// <paramref name="maxUses"/> times (0: once) for <paramref name="validForMs"/> (0: 30 minutes).
        /// It is a secret: give it to one person.</summary>
        public string Invite(Role role = Role.Member, uint maxUses = 0, ulong validForMs = 0)
        {
            ulong text;
            using (var l = member.Use())
            {
                SyncshellException.Check(Native.syncshell_member_invite(l.Raw, (uint)role, maxUses, validForMs, &text));
            }
            return NativeBytes.TakeString(text);
        }

        /// <summary>Revokes the member <paramref name="who"/> names (a name, an id or its start) for good.</summary>
        public void Revoke(string who)
        {
            using (var l = member.Use())
            {
                SyncshellException.Check(WithText(Utf8.NulTerminated(who), t => Native.syncshell_member_revoke(l.Raw, (byte*)t)));
            }
        }

        /// <summary>Sends a chat line to every linked member; returns to how many.</summary>
        public int Say(string text)
        {
            UIntPtr n = UIntPtr.Zero;
            using (var l = member.Use())
            {
                SyncshellException.Check(WithText(Utf8.NulTerminated(text), t =>
                {
                    UIntPtr count;
                    Status s = Native.syncshell_member_say(l.Raw, (byte*)t, &count);
                    n = count;
                    return s;
                }));
            }
            return (int)n.ToUInt64();
        }

        /// <summary>Pauses transfers of every member (<paramref name="who"/> null) or of one (kept across restarts).</summary>
        public void Pause(string who = null)
        {
            PauseOrResume(who, true);
        }

        /// <summary>Resumes transfers of every member (<paramref name="who"/> null) or of one.</summary>
        public void Resume(string who = null)
        {
            PauseOrResume(who, false);
        }

        private void PauseOrResume(string who, bool pause)
        {
            using (var l = member.Use())
            {
                SyncshellException.Check(WithText(Utf8.NulTerminated(who), t => Native.syncshell_member_pause(l.Raw, (byte*)t, pause)));
            }
        }

        /// <summary>One bandwidth budget for all outgoing transfers, in bytes per second (0: none; kept across restarts).</summary>
        public void SetBudget(ulong bytesPerSecond)
        {
            using (var l = member.Use())
            {
                SyncshellException.Check(Native.syncshell_member_set_budget(l.Raw, bytesPerSecond));
            }
        }

        /// <summary>Turns the approval step on or off (kept across restarts).</summary>
        public void SetApproval(bool on)
        {
            using (var l = member.Use())
            {
                SyncshellException.Check(Native.syncshell_member_set_approval(l.Raw, on));
            }
        }

        /// <summary>Places the waiting file at <paramref name="path"/> (as FileWaiting named it) in the receive folder.</summary>
        public void Approve(string path, uint timeoutMs = 10000)
        {
            Decide(path, true, timeoutMs);
        }

        /// <summary>Deletes the waiting file at <paramref name="path"/> and refuses its content for good.</summary>
        public void Deny(string path, uint timeoutMs = 10000)
        {
            Decide(path, false, timeoutMs);
        }

        private void Decide(string path, bool approve, uint timeoutMs)
        {
            using (var l = member.Use())
            {
                SyncshellException.Check(WithText(Utf8.NulTerminated(path), t => Native.syncshell_member_decide(l.Raw, (byte*)t, approve, timeoutMs)));
            }
        }

        /// <summary>Stops the member (its links, transfers and relay connection end; its folder is
        /// released) and frees it and its runtime, whose threads end before this returns.</summary>
        public void Dispose()
        {
            if (!member.IsClosed)
            {
                using (var l = member.Use())
                {
                    Native.syncshell_member_stop(l.Raw, 5000);
                }
                member.Dispose();
            }
            runtime.Dispose();
            stopped = true;
        }
    }
}
