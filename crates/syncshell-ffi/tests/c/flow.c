/*
 * A whole syncshell flow from C: two identities, a shell, an invite and a join, token
 * verification, a tombstone, phonebook merge, the handshake driven by the host, a sealed
 * transfer whose frames the host carries, misuse that must come back as errors, cleanup.
 *
 * Usage: flow <scratch folder>. Exits 0 when every check passed. Run under valgrind by
 * crates/syncshell-ffi/tests/c.rs, and built with mingw-w64 against the Windows DLL and run
 * under wine by crates/syncshell-ffi/tests/windows.rs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#ifdef _WIN32
#include <direct.h>
#define mkdir(path, mode) _mkdir(path)
#endif

#include "syncshell.h"

static int failures = 0;

static void report(const char *what, syncshell_status got, syncshell_status want, int line) {
  if (got == want) return;
  char message[512] = {0};
  size_t len = 0;
  syncshell_last_error(message, sizeof message, &len);
  fprintf(stderr, "line %d: %s returned %s, expected %s: %s\n", line, what,
          syncshell_status_name(got), syncshell_status_name(want), message);
  failures++;
}

#define OK(call) report(#call, (call), SYNCSHELL_OK, __LINE__)
#define EXPECT(call, status) report(#call, (call), (status), __LINE__)
#define CHECK(cond)                                                   \
  do {                                                                \
    if (!(cond)) {                                                    \
      fprintf(stderr, "line %d: check failed: %s\n", __LINE__, #cond); \
      failures++;                                                     \
    }                                                                 \
  } while (0)

/* Copies a bytes handle into a new NUL-terminated buffer (caller frees) and frees it. */
static char *take(syncshell_bytes bytes, size_t *out_len) {
  size_t len = 0, written = 0;
  OK(syncshell_bytes_len(bytes, &len));
  char *buf = calloc(len + 1, 1);
  OK(syncshell_bytes_copy(bytes, (uint8_t *)buf, len, &written));
  OK(syncshell_bytes_free(bytes));
  if (out_len) *out_len = written;
  return buf;
}

static char *peer_id(syncshell_identity identity) {
  syncshell_bytes text = {0};
  OK(syncshell_identity_peer_id(identity, &text));
  return take(text, NULL);
}

static void write_file(const char *path, size_t size, unsigned seed) {
  FILE *f = fopen(path, "wb");
  for (size_t i = 0; i < size; i++) fputc((int)((i * 31 + seed) & 0xff), f);
  fclose(f);
}

static int same_file(const char *a, const char *b) {
  FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
  int same = fa && fb;
  while (same) {
    int ca = fgetc(fa), cb = fgetc(fb);
    if (ca != cb) same = 0;
    if (ca == EOF || cb == EOF) break;
  }
  if (fa) fclose(fa);
  if (fb) fclose(fb);
  return same;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: flow <scratch folder>\n");
    return 2;
  }
  const char *scratch = argv[1];
  const uint64_t now = syncshell_now_ms();
  CHECK(syncshell_abi_version() >> 16 == SYNCSHELL_ABI_VERSION >> 16);

  /* Two identities and a shell. */
  syncshell_identity owner = {0}, member = {0};
  OK(syncshell_identity_generate(&owner));
  OK(syncshell_identity_generate(&member));
  char *owner_id = peer_id(owner), *member_id = peer_id(member);
  printf("owner  %s\nmember %s\n", owner_id, member_id);
  syncshell_genesis genesis = {0};
  OK(syncshell_genesis_create(owner, "Weekend raid", now, &genesis));
  syncshell_chain owner_chain = {0};
  OK(syncshell_chain_owner(&owner_chain));
  /* The owner's revocation set: every issue, invite and admission check goes through it. */
  syncshell_revocations set_a = {0}, set_b = {0};
  OK(syncshell_revocations_new(genesis, &set_a));

  /* An invite, pasted as text, and the member's join request accepted. */
  syncshell_invite invite = {0}, pasted = {0};
  OK(syncshell_invite_create(set_a, owner, owner_chain, SYNCSHELL_ROLE_MEMBER, 3, 0, NULL, 0, now, &invite));
  syncshell_bytes invite_text = {0};
  OK(syncshell_invite_text(invite, &invite_text));
  char *text = take(invite_text, NULL);
  printf("invite %.40s...\n", text);
  OK(syncshell_invite_parse(text, &pasted));
  free(text);
  syncshell_genesis joined_genesis = {0};
  OK(syncshell_invite_genesis(pasted, &joined_genesis));
  syncshell_bytes request = {0};
  OK(syncshell_invite_join_request(pasted, member, now, &request));
  size_t request_len = 0;
  char *request_bytes = take(request, &request_len);
  syncshell_ledger ledger = {0};
  OK(syncshell_ledger_new(&ledger));
  syncshell_chain member_chain = {0};
  OK(syncshell_ledger_accept(ledger, set_a, owner, owner_chain, (const uint8_t *)request_bytes, request_len, now, &member_chain));
  free(request_bytes);

  /* The member verifies its token against the genesis it got from the invite (a new
     revocation set of that shell: it knows no tombstones yet). */
  OK(syncshell_revocations_new(joined_genesis, &set_b));
  uint32_t role = 99;
  OK(syncshell_chain_verify(member_chain, set_b, member_id, now, &role));
  CHECK(role == SYNCSHELL_ROLE_MEMBER);
  EXPECT(syncshell_chain_verify(member_chain, set_b, owner_id, now, &role), SYNCSHELL_ERR_VERIFY);

  /* Phonebooks: each publishes, they merge each other's snapshots. */
  syncshell_phonebook book_a = {0}, book_b = {0};
  OK(syncshell_phonebook_new(genesis, &book_a));
  OK(syncshell_phonebook_new(joined_genesis, &book_b));
  syncshell_bytes entry = {0};
  OK(syncshell_phonebook_publish(book_a, owner, owner_chain, "Owner", SYNCSHELL_PRESENCE_ONLINE, NULL, 0, 0, now, &entry));
  OK(syncshell_bytes_free(entry));
  OK(syncshell_phonebook_publish(book_b, member, member_chain, "Member", SYNCSHELL_PRESENCE_AWAY, (const uint8_t *)"hint", 4, 0, now, &entry));
  size_t entry_len = 0;
  char *entry_bytes = take(entry, &entry_len);
  uint32_t change = 99;
  OK(syncshell_phonebook_insert(book_a, (const uint8_t *)entry_bytes, entry_len, &change));
  CHECK(change == SYNCSHELL_CHANGE_ADDED);
  free(entry_bytes);
  syncshell_bytes snapshot = {0};
  OK(syncshell_phonebook_encode(book_a, &snapshot));
  size_t snapshot_len = 0;
  char *snapshot_bytes = take(snapshot, &snapshot_len);
  size_t changed = 0;
  OK(syncshell_phonebook_merge(book_b, (const uint8_t *)snapshot_bytes, snapshot_len, &changed));
  CHECK(changed == 1);
  free(snapshot_bytes);
  syncshell_list entries = {0};
  size_t count = 0;
  OK(syncshell_phonebook_entries(book_b, now, &entries));
  OK(syncshell_list_len(entries, &count));
  CHECK(count == 2);
  for (size_t i = 0; i < count; i++) {
    syncshell_handle item = 0;
    syncshell_bytes name = {0};
    OK(syncshell_list_get(entries, i, &item));
    syncshell_entry e = {item}; /* the list holds phonebook entries */
    OK(syncshell_entry_name(e, &name));
    char *n = take(name, NULL);
    printf("phonebook entry: %s\n", n);
    free(n);
    OK(syncshell_entry_free(e));
  }
  OK(syncshell_list_free(entries));

  /* The handshake, the host carrying its messages between the two sides. */
  const uint8_t binding[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                               17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
  syncshell_replay_guard guard_a = {0}, guard_b = {0};
  OK(syncshell_replay_guard_new(&guard_a));
  OK(syncshell_replay_guard_new(&guard_b));
  syncshell_handshake hs_member = {0}, hs_owner = {0};
  OK(syncshell_handshake_initiate(member, member_chain, set_b, binding, sizeof binding, now, &hs_member));
  OK(syncshell_handshake_respond(binding, sizeof binding, now, &hs_owner));
  for (int round = 0; round < 4; round++) {
    int member_turn = round % 2 == 0;
    syncshell_handshake from = member_turn ? hs_member : hs_owner;
    syncshell_handshake to = member_turn ? hs_owner : hs_member;
    for (;;) {
      syncshell_bytes message = {0};
      OK(syncshell_handshake_poll_transmit(from, &message));
      if (message.h == 0) break;
      size_t len = 0;
      char *m = take(message, &len);
      if (member_turn)
        OK(syncshell_handshake_handle(to, owner, owner_chain, set_a, guard_a, (const uint8_t *)m, len, now));
      else
        OK(syncshell_handshake_handle(to, member, member_chain, set_b, guard_b, (const uint8_t *)m, len, now));
      free(m);
    }
  }
  uint32_t state_a = 99, state_b = 99;
  OK(syncshell_handshake_state(hs_member, &state_a));
  OK(syncshell_handshake_state(hs_owner, &state_b));
  CHECK(state_a == SYNCSHELL_HANDSHAKE_DONE && state_b == SYNCSHELL_HANDSHAKE_DONE);
  syncshell_bytes key_handle = {0}, key_handle2 = {0};
  OK(syncshell_handshake_session_key(hs_member, &key_handle));
  OK(syncshell_handshake_session_key(hs_owner, &key_handle2));
  size_t key_len = 0, key_len2 = 0;
  char *key = take(key_handle, &key_len), *key2 = take(key_handle2, &key_len2);
  CHECK(key_len == 32 && key_len2 == 32 && memcmp(key, key2, 32) == 0);
  syncshell_bytes peer = {0};
  OK(syncshell_handshake_peer(hs_owner, &peer, &role));
  /* The owner receives from the peer its handshake authenticated: naming it lets a later
     transfer from the same sender resume this one's partial files. */
  char *sender_id = take(peer, NULL);
  CHECK(strcmp(sender_id, member_id) == 0 && role == SYNCSHELL_ROLE_MEMBER);
  printf("handshake done: session keys match\n");

  /* A sealed transfer of a small folder, frames carried by the host. */
  char src[512], dst[512], path[600], path2[600];
  snprintf(src, sizeof src, "%s/src", scratch);
  snprintf(dst, sizeof dst, "%s/dst", scratch);
  mkdir(src, 0700);
  snprintf(path, sizeof path, "%s/pack", src);
  mkdir(path, 0700);
  snprintf(path, sizeof path, "%s/pack/textures.bin", src);
  write_file(path, 200000, 7);
  snprintf(path, sizeof path, "%s/readme.txt", src);
  write_file(path, 100, 1);
  syncshell_runtime runtime = {0};
  OK(syncshell_runtime_new(2, &runtime));
  syncshell_transfer sender = {0}, receiver = {0};
  OK(syncshell_transfer_send_frames(runtime, (const uint8_t *)key, 32, src, &sender));
  OK(syncshell_transfer_receive_frames(runtime, (const uint8_t *)key2, 32, sender_id, dst, 0, &receiver));
  syncshell_status end_rx = SYNCSHELL_ERR_TIMEOUT, end_tx = SYNCSHELL_ERR_TIMEOUT;
  for (int i = 0; i < 20000 && (end_rx == SYNCSHELL_ERR_TIMEOUT || end_tx == SYNCSHELL_ERR_TIMEOUT); i++) {
    syncshell_transfer pair[2][2] = {{sender, receiver}, {receiver, sender}};
    for (int d = 0; d < 2; d++) {
      syncshell_bytes frame = {0};
      if (syncshell_transfer_next_frame(pair[d][0], 1, &frame) == SYNCSHELL_OK) {
        size_t len = 0;
        char *f = take(frame, &len);
        OK(syncshell_transfer_handle_frame(pair[d][1], (const uint8_t *)f, len));
        free(f);
      }
    }
    end_rx = syncshell_transfer_wait(receiver, 0);
    end_tx = syncshell_transfer_wait(sender, 0);
  }
  report("receiver", end_rx, SYNCSHELL_OK, __LINE__);
  report("sender", end_tx, SYNCSHELL_OK, __LINE__);
  uint64_t done = 0, total = 0;
  OK(syncshell_transfer_progress(receiver, &done, &total));
  CHECK(done == 200100 && total == 200100);
  snprintf(path, sizeof path, "%s/pack/textures.bin", src);
  snprintf(path2, sizeof path2, "%s/pack/textures.bin", dst);
  CHECK(same_file(path, path2));
  printf("transfer done: %llu of %llu bytes, files match\n", (unsigned long long)done, (unsigned long long)total);
  OK(syncshell_transfer_free(sender));
  OK(syncshell_transfer_free(receiver));

  /* The owner revokes the member: the tombstone spreads and the member is refused. */
  syncshell_bytes tombstone = {0};
  OK(syncshell_tombstone_issue(set_a, owner, owner_chain, member_id, SYNCSHELL_REASON_REMOVED, now + 1, &tombstone));
  size_t tomb_len = 0;
  char *tomb = take(tombstone, &tomb_len);
  bool added = false, revoked = false;
  OK(syncshell_revocations_insert(set_a, (const uint8_t *)tomb, tomb_len, &added));
  CHECK(added);
  OK(syncshell_revocations_is_revoked(set_a, member_id, &revoked));
  CHECK(revoked);
  EXPECT(syncshell_chain_verify(member_chain, set_a, member_id, now + 2, &role), SYNCSHELL_ERR_REVOKED);
  OK(syncshell_phonebook_revoke(book_b, (const uint8_t *)tomb, tomb_len, &added));
  OK(syncshell_phonebook_entries(book_b, now, &entries));
  OK(syncshell_list_len(entries, &count));
  CHECK(count == 1);
  OK(syncshell_list_free(entries));
  free(tomb);
  syncshell_handshake again_member = {0}, again_owner = {0};
  OK(syncshell_handshake_initiate(member, member_chain, set_b, binding, sizeof binding, now + 3, &again_member));
  OK(syncshell_handshake_respond(binding, sizeof binding, now + 3, &again_owner));
  syncshell_bytes hello = {0};
  OK(syncshell_handshake_poll_transmit(again_member, &hello));
  size_t hello_len = 0;
  char *hello_bytes = take(hello, &hello_len);
  EXPECT(syncshell_handshake_handle(again_owner, owner, owner_chain, set_a, guard_a, (const uint8_t *)hello_bytes, hello_len, now + 3),
         SYNCSHELL_ERR_REVOKED);
  free(hello_bytes);
  printf("revoked member refused at its handshake\n");

  /* Misuse comes back as errors, not crashes. */
  EXPECT(syncshell_debug_panic(), SYNCSHELL_ERR_PANIC);
  EXPECT(syncshell_identity_generate(NULL), SYNCSHELL_ERR_NULL_ARGUMENT);
  /* A handle of one kind does not compile where another is taken; one forced through anyway
     (as a host mixing raw values up would) is refused at run time. */
  EXPECT(syncshell_identity_peer_id((syncshell_identity){genesis.h}, &peer), SYNCSHELL_ERR_WRONG_HANDLE_KIND);
  syncshell_identity doomed = {0};
  OK(syncshell_identity_generate(&doomed));
  OK(syncshell_identity_free(doomed));
  EXPECT(syncshell_identity_free(doomed), SYNCSHELL_ERR_INVALID_HANDLE);
  EXPECT(syncshell_identity_peer_id(doomed, &peer), SYNCSHELL_ERR_INVALID_HANDLE);

  /* Cleanup: every handle freed once. */
  free(key);
  free(key2);
  free(sender_id);
  free(owner_id);
  free(member_id);
  syncshell_handshake handles[] = {again_member, again_owner, hs_member, hs_owner};
  for (size_t i = 0; i < sizeof handles / sizeof handles[0]; i++) OK(syncshell_handshake_free(handles[i]));
  OK(syncshell_replay_guard_free(guard_a));
  OK(syncshell_replay_guard_free(guard_b));
  OK(syncshell_revocations_free(set_a));
  OK(syncshell_revocations_free(set_b));
  OK(syncshell_phonebook_free(book_a));
  OK(syncshell_phonebook_free(book_b));
  OK(syncshell_ledger_free(ledger));
  OK(syncshell_invite_free(invite));
  OK(syncshell_invite_free(pasted));
  OK(syncshell_chain_free(owner_chain));
  OK(syncshell_chain_free(member_chain));
  OK(syncshell_genesis_free(genesis));
  OK(syncshell_genesis_free(joined_genesis));
  OK(syncshell_identity_free(owner));
  OK(syncshell_identity_free(member));
  OK(syncshell_runtime_free(runtime));
  size_t live = 99;
  OK(syncshell_live_handles(&live));
  if (live != 0) {
    fprintf(stderr, "%zu handles were not freed\n", live);
    failures++;
  }

  if (failures) {
    fprintf(stderr, "%d checks failed\n", failures);
    return 1;
  }
  printf("all checks passed\n");
  return 0;
}
