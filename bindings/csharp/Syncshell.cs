// Syncshell.cs: C# bindings of the syncshell C ABI.
using System;
using System.Runtime.InteropServices;

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

    /// <summary>The C functions, as declared in include/syncshell.h.</summary>
    public static unsafe partial class Native
    {
        /// <summary>The library: syncshell_ffi.dll, libsyncshell_ffi.so or libsyncshell_ffi.dylib.</summary>
        public const string Library = "syncshell_ffi";
        public const uint SYNCSHELL_ABI_VERSION = (1 << 16);
        public const uint SYNCSHELL_HANDSHAKE_RUNNING = 0;
        public const uint SYNCSHELL_HANDSHAKE_DONE = 1;
        public const uint SYNCSHELL_HANDSHAKE_FAILED = 2;
        public const uint SYNCSHELL_ROLE_MEMBER = 0;
        public const uint SYNCSHELL_ROLE_ADMIN = 1;
        public const uint SYNCSHELL_ROLE_OWNER = 2;
        public const uint SYNCSHELL_PRESENCE_ONLINE = 0;
        public const uint SYNCSHELL_PRESENCE_AWAY = 1;
        public const uint SYNCSHELL_PRESENCE_OFFLINE = 2;
        public const uint SYNCSHELL_CHANGE_ADDED = 0;
        public const uint SYNCSHELL_CHANGE_UPDATED = 1;
        public const uint SYNCSHELL_CHANGE_UNCHANGED = 2;
        public const uint SYNCSHELL_CHANGE_HIDDEN = 3;
        public const uint SYNCSHELL_REASON_REMOVED = 0;
        public const uint SYNCSHELL_REASON_LEFT = 1;
        public const uint SYNCSHELL_REASON_COMPROMISED = 2;
        public const uint SYNCSHELL_REASON_SUPERSEDED = 3;
        public const uint SYNCSHELL_EVENT_SIGNAL = 1;
        public const uint SYNCSHELL_EVENT_CONNECTED = 2;
        public const uint SYNCSHELL_EVENT_ACCEPTED = 3;
        public const uint SYNCSHELL_EVENT_CONNECT_FAILED = 4;

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern uint syncshell_abi_version();

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern byte* syncshell_status_name(uint status);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_last_error(byte* buf, UIntPtr cap, UIntPtr* out_len);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern ulong syncshell_now_ms();

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
        public static extern Status syncshell_chain_issue(ulong genesis, ulong issuer, ulong issuer_chain, byte* subject, uint role, ulong now_ms, ulong expires_ms, ulong* out_chain);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_chain_decode(byte* data, UIntPtr len, ulong* out_chain);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_chain_encode(ulong chain, ulong* out_bytes);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_chain_verify(ulong chain, ulong genesis, byte* peer, ulong revocations, ulong now_ms, uint* out_role);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_chain_free(ulong chain);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_invite_create(ulong genesis, ulong inviter, ulong inviter_chain, uint role, uint max_uses, ulong valid_for_ms, byte* hints, UIntPtr hints_len, ulong now_ms, ulong* out_invite);

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
        public static extern Status syncshell_ledger_accept(ulong ledger, ulong genesis, ulong acceptor, ulong acceptor_chain, byte* request, UIntPtr request_len, ulong now_ms, ulong* out_chain);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_ledger_free(ulong ledger);

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
        public static extern Status syncshell_tombstone_issue(ulong genesis, ulong issuer, ulong issuer_chain, byte* revoked, uint reason, ulong now_ms, ulong* out_tombstone);

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
        public static extern Status syncshell_transfer_receive(ulong connection, byte* key, UIntPtr key_len, byte* folder, ulong max_total_size, ulong* out_transfer);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_transfer_send_frames(ulong runtime, byte* key, UIntPtr key_len, byte* folder, ulong* out_transfer);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_transfer_receive_frames(ulong runtime, byte* key, UIntPtr key_len, byte* folder, ulong max_total_size, ulong* out_transfer);

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
        public static extern Status syncshell_connection_close(ulong connection);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern Status syncshell_connection_free(ulong connection);
    }
    // END GENERATED
}
