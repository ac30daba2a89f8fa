// Flow.cs: the whole syncshell flow through the C# wrappers (bindings/csharp/Syncshell.cs),
// run under Mono by tests/csharp.rs: identities and key files, a shell with an invite and a
// member, revocation, phonebooks, two WebRTC transports on 127.0.0.1 with the host relaying
// signaling, the handshake, folder transfers over the connection and as host-carried frames
// (one interrupted and resumed from its partial file), and the library's error handling (panic, freed and wrong-kind handles, NULL arguments).
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading;
using Syncshell;

static class Flow
{
    /// <summary>A failed check.</summary>
    sealed class CheckFailed : Exception
    {
        public CheckFailed(string message) : base(message) { }
    }

    static readonly Stopwatch Clock = Stopwatch.StartNew();
    static readonly List<IDisposable> Owned = new List<IDisposable>();

    static void Step(string text)
    {
        Console.WriteLine("[{0,6:F2}s] {1}", Clock.Elapsed.TotalSeconds, text);
    }

    static void Expect(bool condition, string what)
    {
        if (!condition)
        {
            throw new CheckFailed(what);
        }
    }

    static void ExpectStatus(Status actual, Status expected, string what)
    {
        Expect(actual == expected, string.Format("{0}: expected {1}, got {2}", what, expected, actual));
    }

    /// <summary>Keeps <paramref name="item"/> to dispose at the end, in reverse order.</summary>
    static T Own<T>(T item) where T : IDisposable
    {
        Owned.Add(item);
        return item;
    }

    static bool Same(byte[] a, byte[] b)
    {
        return a != null && b != null && a.SequenceEqual(b);
    }

    static string Hex(byte[] data, int count)
    {
        return BitConverter.ToString(data, 0, Math.Min(count, data.Length)).Replace("-", "").ToLowerInvariant();
    }

    static int Main(string[] args)
    {
        string root = Path.Combine(Path.GetTempPath(), "syncshell-csharp-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(root);
        try
        {
            Run(root);
            Console.WriteLine("C# flow: all checks passed in {0:F2}s", Clock.Elapsed.TotalSeconds);
            return 0;
        }
        catch (CheckFailed e)
        {
            Console.WriteLine("CHECK FAILED: " + e.Message);
            Console.WriteLine(e.StackTrace);
            return 1;
        }
        catch (Exception e)
        {
            Console.WriteLine("FAILED: " + e);
            return 2;
        }
        finally
        {
            for (int i = Owned.Count - 1; i >= 0; i--)
            {
                Owned[i].Dispose();
            }
            try
            {
                Directory.Delete(root, true);
            }
            catch (Exception e)
            {
                Console.WriteLine("could not delete " + root + ": " + e.Message);
            }
        }
    }

    static void Run(string root)
    {
        // ABI.
        uint abi = Library.AbiVersion;
        Step(string.Format("ABI version {0}.{1}", abi >> 16, abi & 0xffff));
        Library.EnsureCompatible();
        Expect(abi >> 16 == Native.SYNCSHELL_ABI_VERSION >> 16, "ABI major matches the bindings");
        ulong now = Library.NowMs();
        Expect(now > 1600000000000UL, "NowMs is a Unix time in milliseconds");

        // Identities.
        Identity owner = Own(Identity.Generate());
        Identity member = Own(Identity.Generate());
        string ownerId = owner.PeerId;
        string memberId = member.PeerId;
        Expect(ownerId.StartsWith("peer-") && memberId.StartsWith("peer-"), "peer ids have the peer- form");
        Expect(ownerId != memberId, "two identities differ");
        Step("identities: owner " + ownerId + ", member " + memberId);

        string keyFile = Path.Combine(root, "member.key");
        member.Save(keyFile, "correct horse", 64, 1, 1);
        using (Identity loaded = Identity.Load(keyFile, "correct horse"))
        {
            Expect(loaded.PeerId == memberId, "the key file gives the same identity back");
        }
        try
        {
            Identity.Load(keyFile, "wrong passphrase").Dispose();
            Expect(false, "a wrong passphrase is refused");
        }
        catch (SyncshellException e)
        {
            ExpectStatus(e.Status, Status.ErrWrongPassphrase, "loading with a wrong passphrase");
            Expect(e.Message.Length > 0, "the exception carries the library's message");
            Step("key file: saved, loaded; wrong passphrase refused (" + e.Message + ")");
        }
        byte[] secret = member.Secret();
        Expect(secret.Length == 32, "the secret is 32 bytes");
        using (Identity rebuilt = Identity.FromSecret(secret))
        {
            Expect(rebuilt.PeerId == memberId, "the secret rebuilds the same identity");
        }
        Array.Clear(secret, 0, secret.Length);
        Step("raw secret export/import round-trips");

        // The shell.
        Genesis genesis = Own(Genesis.Create(owner, "C# test shell", now));
        byte[] genesisBytes = genesis.Encode();
        using (Genesis decoded = Genesis.Decode(genesisBytes))
        {
            Expect(decoded.Id == genesis.Id, "decoded genesis has the same id");
            Expect(decoded.Name == "C# test shell", "decoded genesis has the name");
            Expect(decoded.Owner == ownerId, "decoded genesis names the owner");
            Expect(Same(decoded.Encode(), genesisBytes), "decoded genesis encodes the same");
        }
        Step(string.Format("genesis {0} \"{1}\" ({2} bytes) encodes and decodes", genesis.Id, genesis.Name, genesisBytes.Length));

        TokenChain ownerChain = Own(TokenChain.Owner());
        RevocationSet revocations = Own(RevocationSet.New(genesis));
        Expect(ownerChain.Verify(revocations, ownerId, now) == Role.Owner, "the owner chain admits the owner");

        // Invite, join request, ledger, member chain.
        byte[] hints = Encoding.UTF8.GetBytes("webrtc:owner");
        string inviteText;
        using (Invite invite = Invite.Create(revocations, owner, ownerChain, Role.Member, 2, 0, hints, now))
        {
            inviteText = invite.Text();
        }
        Expect(inviteText.StartsWith("syncshell-invite-"), "invite text has its prefix");
        byte[] request;
        using (Invite parsed = Invite.Parse(inviteText))
        using (Genesis fromInvite = parsed.Genesis())
        {
            Expect(fromInvite.Id == genesis.Id, "the invite names the shell");
            request = parsed.JoinRequest(member, now);
        }
        InviteLedger ledger = Own(InviteLedger.New());
        TokenChain memberChain = Own(ledger.Accept(revocations, owner, ownerChain, request, now));
        using (InviteLedger reloaded = InviteLedger.Decode(ledger.Encode()))
        {
            Expect(reloaded.Encode().Length > 0, "the ledger round-trips");
        }
        using (TokenChain decodedChain = TokenChain.Decode(memberChain.Encode()))
        {
            Expect(decodedChain.Verify(revocations, memberId, now) == Role.Member, "decoded member chain verifies");
        }
        Step(string.Format("invite ({0} chars) -> join request ({1} bytes) -> ledger accept -> member chain", inviteText.Length, request.Length));
        Expect(memberChain.Verify(revocations, memberId, now) == Role.Member, "the member chain admits the member");
        try
        {
            memberChain.Verify(revocations, ownerId, now);
            Expect(false, "the member's chain does not admit the owner's key");
        }
        catch (SyncshellException e)
        {
            Step("chain verify: role Member; wrong peer refused with " + e.Status);
        }

        // Revocation of a third identity.
        string thirdId;
        byte[] tombstone;
        using (Identity third = Identity.Generate())
        {
            thirdId = third.PeerId;
            using (TokenChain thirdChain = TokenChain.Issue(revocations, owner, ownerChain, thirdId, Role.Member, now))
            {
                Expect(thirdChain.Verify(revocations, thirdId, now) == Role.Member, "the third member is admitted before revocation");
                tombstone = Tombstone.Issue(revocations, owner, ownerChain, thirdId, RevocationReason.Removed, now);
                Expect(revocations.Insert(tombstone), "the tombstone is new");
                Expect(!revocations.Insert(tombstone), "the tombstone is not new twice");
                Expect(revocations.IsRevoked(thirdId), "the third member is revoked");
                Expect(!revocations.IsRevoked(memberId), "the member is not revoked");
                Expect(revocations.Count == 1, "one tombstone in the set");
                try
                {
                    thirdChain.Verify(revocations, thirdId, now);
                    Expect(false, "a revoked member's chain is refused");
                }
                catch (SyncshellException e)
                {
                    ExpectStatus(e.Status, Status.ErrRevoked, "verifying a revoked member");
                }
            }
        }
        using (RevocationSet copy = RevocationSet.Decode(genesis, revocations.Encode()))
        using (RevocationSet other = RevocationSet.New(genesis))
        {
            Expect(other.Merge(copy) == 1, "merging a set adds its tombstone");
        }
        Expect(memberChain.Verify(revocations, memberId, now) == Role.Member, "the member still verifies with the revocations");
        Step("tombstone for " + thirdId + ": inserted, is_revoked true, chain refused (ErrRevoked)");

        // Phonebooks.
        Phonebook ownerBook = Own(Phonebook.New(genesis));
        Phonebook memberBook = Own(Phonebook.New(genesis));
        byte[] ownerEntry = ownerBook.Publish(owner, ownerChain, "owner", Presence.Online, Encoding.UTF8.GetBytes("owner-hints"), 0, now);
        byte[] memberEntry = memberBook.Publish(member, memberChain, "member", Presence.Online, null, 0, now);
        Expect(memberBook.Insert(ownerEntry) == Change.Added, "the owner's entry is new to the member");
        Expect(ownerBook.Insert(memberEntry) == Change.Added, "the member's entry is new to the owner");
        Expect(ownerBook.Insert(memberEntry) == Change.Unchanged, "the same entry twice changes nothing");
        Expect(ownerBook.Revoke(tombstone), "the owner's book takes the tombstone");
        Step("phonebooks: own entries published and exchanged");

        // The owner goes away: a newer entry reaches the member by delta sync.
        ownerBook.Publish(owner, ownerChain, "owner", Presence.Away, null, 0, now + 1000);
        int messages = SyncBooks(memberBook, ownerBook);
        using (PhonebookEntry seen = FindEntry(memberBook, ownerId, now + 1000))
        {
            Expect(seen.Presence == Presence.Away, "delta sync brought the owner's new presence");
        }
        Step(string.Format("delta sync: {0} messages until no replies; the member sees the owner Away", messages));

        ulong changed = memberBook.Merge(ownerBook.Encode());
        Expect(changed == 0, "a snapshot after a full sync changes nothing (got " + changed + ")");
        using (Phonebook decodedBook = Phonebook.Decode(genesis, memberBook.Encode()))
        {
            Expect(decodedBook.Entries(now + 1000).Count == 2, "a decoded snapshot shows both entries");
        }
        List<PhonebookEntry> entries = memberBook.Entries(now + 1000);
        try
        {
            Expect(entries.Count == 2, "the member's book shows 2 entries, got " + entries.Count);
            var names = new List<string>();
            foreach (PhonebookEntry e in entries)
            {
                Presence presence;
                Role role;
                ulong lastSeen;
                e.GetStatus(out presence, out role, out lastSeen);
                string id = e.PeerId;
                Expect(id == ownerId || id == memberId, "an entry is the owner's or the member's");
                Expect(role == (id == ownerId ? Role.Owner : Role.Member), "an entry has its role");
                names.Add(e.Name);
                Step(string.Format("  entry {0}: {1}, {2}, {3}, last seen {4}, {5} hint bytes", e.Name, id, presence, role, lastSeen, e.Hints().Length));
            }
            names.Sort(StringComparer.Ordinal);
            Expect(names.SequenceEqual(new[] { "member", "owner" }), "entries are named member and owner");
        }
        finally
        {
            foreach (PhonebookEntry e in entries)
            {
                e.Dispose();
            }
        }
        ulong removed = memberBook.Gc(now + 1000);
        Step("snapshot merge changed 0; 2 entries listed; gc removed " + removed);

        // Two WebRTC transports in this process, on 127.0.0.1 only.
        Runtime runtime = Own(Runtime.New(2));
        WebRtcConfig config = Own(WebRtcConfig.New());
        config.SetBind("127.0.0.1:0");
        config.SetConnectTimeout(15000);
        Transport ownerNet = Own(Transport.NewWebRtc(runtime, config, "owner"));
        Transport memberNet = Own(Transport.NewWebRtc(runtime, config, "member"));
        memberNet.Connect("owner");
        Connection memberConn = null;
        Connection ownerConn = null;
        int signals = 0;
        var deadline = Stopwatch.StartNew();
        while (memberConn == null || ownerConn == null)
        {
            Expect(deadline.ElapsedMilliseconds < 30000, "the WebRTC connection comes up within 30 s");
            Connection c;
            signals += Pump(memberNet, "member", ownerNet, "owner", TransportEventKind.Connected, out c);
            if (c != null)
            {
                memberConn = Own(c);
            }
            signals += Pump(ownerNet, "owner", memberNet, "member", TransportEventKind.Accepted, out c);
            if (c != null)
            {
                ownerConn = Own(c);
            }
        }
        Step(string.Format("WebRTC: member connected to owner on 127.0.0.1 ({0} signaling blobs relayed by the host)", signals));

        for (int i = 0; i < 3; i++)
        {
            byte[] ping = Encoding.UTF8.GetBytes("ping " + i);
            memberConn.Send(ping);
            Expect(Same(RecvWithin(ownerConn, 10000), ping), "the owner receives ping " + i);
            byte[] pong = Encoding.UTF8.GetBytes("pong " + i);
            Expect(ownerConn.TrySend(pong), "try_send has room for a small message");
            Expect(Same(RecvWithin(memberConn, 10000), pong), "the member receives pong " + i);
        }
        Expect(memberConn.Recv(0) == null, "nothing more waits: recv(0) times out");
        ulong sent, received;
        memberConn.Stats(out sent, out received);
        Expect(sent > 0 && received > 0, "the member's stats count both directions");
        Step(string.Format("messages: 3 each way; member sent {0} bytes, received {1}", sent, received));

        // The handshake over the connection: the member initiates, the owner responds.
        byte[] memberBinding = memberConn.ChannelBinding();
        byte[] ownerBinding = ownerConn.ChannelBinding();
        Expect(memberBinding.Length > 0 && Same(memberBinding, ownerBinding), "both ends have the same channel binding");
        ReplayGuard ownerGuard = Own(ReplayGuard.New());
        ReplayGuard memberGuard = Own(ReplayGuard.New());
        Handshake initiator = Own(Handshake.Initiate(member, memberChain, revocations, memberBinding, Library.NowMs()));
        Handshake responder = Own(Handshake.Respond(ownerBinding, Library.NowMs()));
        int carried = 0;
        deadline.Restart();
        while (initiator.State != HandshakeState.Done || responder.State != HandshakeState.Done)
        {
            Expect(deadline.ElapsedMilliseconds < 20000, "the handshake finishes within 20 s");
            Expect(initiator.State != HandshakeState.Failed && responder.State != HandshakeState.Failed, "the handshake does not fail");
            carried += Flush(initiator, memberConn);
            carried += Flush(responder, ownerConn);
            byte[] m = ownerConn.Recv(20);
            if (m != null)
            {
                responder.Handle(owner, ownerChain, revocations, ownerGuard, m, Library.NowMs());
            }
            m = memberConn.Recv(20);
            if (m != null)
            {
                initiator.Handle(member, memberChain, revocations, memberGuard, m, Library.NowMs());
            }
        }
        carried += Flush(initiator, memberConn) + Flush(responder, ownerConn);
        byte[] memberKey = initiator.SessionKey();
        byte[] ownerKey = responder.SessionKey();
        Expect(memberKey.Length == 32 && Same(memberKey, ownerKey), "both sides have the same 32-byte session key");
        Role peerRole;
        // Who sends to the member: the peer its handshake authenticated. A receive names it,
        // so that partial files are resumed only for that sender.
        string sender = initiator.Peer(out peerRole);
        Expect(sender == ownerId && peerRole == Role.Owner, "the member authenticated the owner");
        Expect(responder.Peer(out peerRole) == memberId && peerRole == Role.Member, "the owner authenticated the member");
        Step(string.Format("handshake: done after {0} messages; session key {1}... on both sides", carried, Hex(memberKey, 4)));

        // A folder over the connection.
        string source = Path.Combine(root, "source");
        MakeFolder(source);
        string destination = Path.Combine(root, "received");
        Transfer sending = Own(Transfer.Send(ownerConn, ownerKey, source));
        Transfer receiving = Own(Transfer.Receive(memberConn, memberKey, sender, destination, 0));
        try
        {
            memberConn.Send(new byte[] { 1 });
            Expect(false, "a connection in a transfer refuses other sends");
        }
        catch (SyncshellException e)
        {
            ExpectStatus(e.Status, Status.ErrState, "send during a transfer");
        }
        bool sentDone = false, receivedDone = false;
        deadline.Restart();
        while (!sentDone || !receivedDone)
        {
            Expect(deadline.ElapsedMilliseconds < 60000, "the transfer finishes within 60 s");
            if (!receivedDone)
            {
                receivedDone = receiving.Wait(50);
            }
            if (!sentDone)
            {
                sentDone = sending.Wait(50);
            }
        }
        ulong doneBytes, totalBytes;
        receiving.Progress(out doneBytes, out totalBytes);
        Expect(doneBytes == totalBytes && totalBytes == FolderSize(source), "progress reaches the folder's size");
        int files = CompareFolders(source, destination);
        Expect(sending.Wait(0) && receiving.Wait(0), "a finished transfer reports success again");
        Step(string.Format("transfer over WebRTC: {0} files, {1} bytes, identical", files, totalBytes));

        // The connection is usable again once the transfer ended.
        memberConn.Send(Encoding.UTF8.GetBytes("after"));
        Expect(Same(RecvWithin(ownerConn, 10000), Encoding.UTF8.GetBytes("after")), "the connection carries messages after the transfer");

        // The same folder as sealed frames the host carries.
        string destination2 = Path.Combine(root, "received-frames");
        Transfer frameSender = Own(Transfer.SendFrames(runtime, ownerKey, source));
        Transfer frameReceiver = Own(Transfer.ReceiveFrames(runtime, memberKey, sender, destination2, 0));
        int toReceiver = 0, toSender = 0;
        sentDone = false;
        receivedDone = false;
        var pendingToReceiver = new Queue<byte[]>();
        var pendingToSender = new Queue<byte[]>();
        deadline.Restart();
        while (!sentDone || !receivedDone)
        {
            Expect(deadline.ElapsedMilliseconds < 60000, "the frame transfer finishes within 60 s");
            bool moved = false;
            moved |= Carry(frameSender, frameReceiver, pendingToReceiver, ref toReceiver);
            moved |= Carry(frameReceiver, frameSender, pendingToSender, ref toSender);
            if (!receivedDone)
            {
                receivedDone = frameReceiver.Wait(moved ? 0u : 5u);
            }
            if (!sentDone)
            {
                sentDone = frameSender.Wait(0);
            }
        }
        files = CompareFolders(source, destination2);
        Expect(frameSender.Wait(0) && frameReceiver.Wait(0), "a finished transfer reports success again");
        Expect(frameSender.NextFrame(0) == null && frameSender.FramesDrained, "a finished sender has no more frames");
        try
        {
            frameReceiver.HandleFrame(new byte[] { 1, 2, 3 });
            Expect(false, "a finished receiver takes no frames");
        }
        catch (SyncshellException e)
        {
            ExpectStatus(e.Status, Status.ErrClosed, "a frame for a finished transfer");
        }
        Step(string.Format("transfer as frames: {0} frames to the receiver, {1} back; {2} files identical", toReceiver, toSender, files));

        // Interrupted after its offer and two chunks of big.bin (the first file), then run
        // again under another session key from the same sender: it resumes from the partial
        // file instead of starting over.
        string destination3 = Path.Combine(root, "received-resumed");
        byte[] firstKey = Enumerable.Repeat((byte)0x31, 32).ToArray();
        using (Transfer cutSender = Transfer.SendFrames(runtime, firstKey, source))
        using (Transfer cutReceiver = Transfer.ReceiveFrames(runtime, firstKey, sender, destination3, 0))
        {
            int delivered = 0;
            deadline.Restart();
            while (delivered < 3)
            {
                Expect(deadline.ElapsedMilliseconds < 20000, "the first frames cross within 20 s");
                byte[] f = cutSender.NextFrame(5);
                if (f != null)
                {
                    Expect(cutReceiver.HandleFrame(f), "the receiver takes a frame");
                    delivered++;
                }
                f = cutReceiver.NextFrame(0);
                if (f != null)
                {
                    Expect(cutSender.HandleFrame(f), "the sender takes the request");
                }
            }
            ulong kept, size;
            deadline.Restart();
            do
            {
                Expect(deadline.ElapsedMilliseconds < 20000, "two chunks are written within 20 s");
                Thread.Sleep(5);
                cutReceiver.Progress(out kept, out size);
            }
            while (kept < 2 * 65536);
            Expect(kept == 2 * 65536, "the receiver holds exactly two chunks");
        }
        // Disposed as after a lost connection: the partial file stays for this sender.
        byte[] secondKey = Enumerable.Repeat((byte)0x32, 32).ToArray();
        Transfer resumeSender = Own(Transfer.SendFrames(runtime, secondKey, source));
        Transfer resumeReceiver = Own(Transfer.ReceiveFrames(runtime, secondKey, sender, destination3, 0));
        int resumedFrames = 0, resumedBack = 0;
        sentDone = false;
        receivedDone = false;
        pendingToReceiver.Clear();
        pendingToSender.Clear();
        deadline.Restart();
        while (!sentDone || !receivedDone)
        {
            Expect(deadline.ElapsedMilliseconds < 60000, "the resumed transfer finishes within 60 s");
            bool moved = false;
            moved |= Carry(resumeSender, resumeReceiver, pendingToReceiver, ref resumedFrames);
            moved |= Carry(resumeReceiver, resumeSender, pendingToSender, ref resumedBack);
            if (!receivedDone)
            {
                receivedDone = resumeReceiver.Wait(moved ? 0u : 5u);
            }
            if (!sentDone)
            {
                sentDone = resumeSender.Wait(0);
            }
        }
        files = CompareFolders(source, destination3);
        Expect(resumedFrames == toReceiver - 2, string.Format("the resumed transfer skips the two kept chunks: {0} frames, {1} for a whole transfer", resumedFrames, toReceiver));
        Expect(!Directory.Exists(Path.Combine(destination3, ".syncshell-partial")) || Directory.GetFiles(Path.Combine(destination3, ".syncshell-partial")).Length == 0, "a complete transfer leaves no partial file");
        Step(string.Format("transfer interrupted after 2 chunks and resumed under a new key: {0} frames instead of {1}; {2} files identical", resumedFrames, toReceiver, files));

        // Closing: the peer sees the close after what was sent.
        memberConn.Send(Encoding.UTF8.GetBytes("bye"));
        memberConn.Close();
        Expect(Same(RecvWithin(ownerConn, 10000), Encoding.UTF8.GetBytes("bye")), "the last message arrives before the close");
        try
        {
            deadline.Restart();
            while (ownerConn.Recv(100) == null)
            {
                Expect(deadline.ElapsedMilliseconds < 15000, "the close arrives within 15 s");
            }
            Expect(false, "no message after bye");
        }
        catch (SyncshellException e)
        {
            ExpectStatus(e.Status, Status.ErrClosed, "recv after the peer closed");
        }
        Step("connection closed: the owner received bye, then ErrClosed");

        // The in-memory transport answers too.
        using (MemNetwork net = MemNetwork.New(runtime, 7, 1, 0, 0))
        using (Transport a = Transport.NewMem(net, "a"))
        using (Transport b = Transport.NewMem(net, "b"))
        {
            try
            {
                a.Signal("b", new byte[] { 1 });
                Expect(false, "an in-memory transport takes no signaling");
            }
            catch (SyncshellException e)
            {
                ExpectStatus(e.Status, Status.ErrState, "signal on an in-memory transport");
            }
            Expect(a.Poll(0) == null, "poll(0) times out on a quiet transport");
            a.Connect("b");
            Connection ca = null, cb = null;
            deadline.Restart();
            while (ca == null || cb == null)
            {
                Expect(deadline.ElapsedMilliseconds < 10000, "the in-memory connection comes up");
                TransportEvent ev = a.Poll(10);
                if (ev != null && ev.Kind == TransportEventKind.Connected)
                {
                    ca = Own(ev.Connection);
                }
                ev = b.Poll(10);
                if (ev != null && ev.Kind == TransportEventKind.Accepted)
                {
                    cb = Own(ev.Connection);
                }
            }
            ca.Send(Encoding.UTF8.GetBytes("mem"));
            Expect(Same(RecvWithin(cb, 5000), Encoding.UTF8.GetBytes("mem")), "a message crosses the in-memory network");
            Step("in-memory transport: connected and carried a message");
        }

        Adversarial();
    }

    /// <summary>Runs a delta sync from <paramref name="a"/> to <paramref name="b"/> until neither has replies; returns the messages carried.</summary>
    static int SyncBooks(Phonebook a, Phonebook b)
    {
        int carried = 1;
        List<byte[]> toB = new List<byte[]> { a.SyncStart() };
        List<byte[]> toA = new List<byte[]>();
        for (int round = 0; toB.Count > 0 || toA.Count > 0; round++)
        {
            Expect(round < 20, "the delta sync ends within 20 rounds");
            var nextToA = new List<byte[]>();
            foreach (byte[] m in toB)
            {
                nextToA.AddRange(b.SyncHandle(m));
            }
            var nextToB = new List<byte[]>();
            foreach (byte[] m in toA)
            {
                nextToB.AddRange(a.SyncHandle(m));
            }
            toA = nextToA;
            toB = nextToB;
            carried += toA.Count + toB.Count;
        }
        return carried;
    }

    static PhonebookEntry FindEntry(Phonebook book, string peer, ulong now)
    {
        PhonebookEntry found = null;
        foreach (PhonebookEntry e in book.Entries(now))
        {
            if (found == null && e.PeerId == peer)
            {
                found = e;
            }
            else
            {
                e.Dispose();
            }
        }
        Expect(found != null, "the book has an entry for " + peer);
        return found;
    }

    /// <summary>Handles one event of <paramref name="from"/> (relaying signals to <paramref name="to"/>); returns 1 for a relayed signal.</summary>
    static int Pump(Transport from, string fromAddress, Transport to, string toAddress, TransportEventKind wanted, out Connection connection)
    {
        connection = null;
        TransportEvent ev = from.Poll(20);
        if (ev == null)
        {
            return 0;
        }
        switch (ev.Kind)
        {
            case TransportEventKind.Signal:
                // The event names the destination; the destination is told who sent it.
                Expect(ev.Peer == toAddress, fromAddress + " signals " + toAddress + ", not " + ev.Peer);
                Expect(ev.Data != null && ev.Data.Length > 0, "a signal carries a blob");
                Expect(to.Signal(fromAddress, ev.Data), "the signaling queue has room");
                return 1;
            case TransportEventKind.ConnectFailed:
                throw new CheckFailed(fromAddress + " could not connect to " + ev.Peer + ": " + Utf8.Decode(ev.Data));
            default:
                Expect(ev.Kind == wanted, fromAddress + " got " + wanted + ", not " + ev.Kind);
                Expect(ev.Connection != null, "a connection event carries a connection");
                Expect(wanted != TransportEventKind.Connected || ev.Peer == toAddress, "connected to " + toAddress);
                connection = ev.Connection;
                return 0;
        }
    }

    static byte[] RecvWithin(Connection connection, int timeoutMs)
    {
        var waited = Stopwatch.StartNew();
        while (waited.ElapsedMilliseconds < timeoutMs)
        {
            byte[] m = connection.Recv(100);
            if (m != null)
            {
                return m;
            }
        }
        throw new CheckFailed("no message within " + timeoutMs + " ms");
    }

    /// <summary>Sends every handshake message waiting in <paramref name="hs"/>; returns how many.</summary>
    static int Flush(Handshake hs, Connection connection)
    {
        int n = 0;
        for (byte[] m = hs.PollTransmit(); m != null; m = hs.PollTransmit())
        {
            connection.Send(m);
            n++;
        }
        return n;
    }

    /// <summary>Moves frames from one transfer to the other (keeping any the destination had no room for); true if any moved.</summary>
    static bool Carry(Transfer from, Transfer to, Queue<byte[]> pending, ref int count)
    {
        bool moved = false;
        for (int i = 0; i < 256 && pending.Count < 64; i++)
        {
            byte[] frame = from.NextFrame(0);
            if (frame == null)
            {
                break;
            }
            pending.Enqueue(frame);
        }
        while (pending.Count > 0)
        {
            if (!to.HandleFrame(pending.Peek()))
            {
                break;
            }
            pending.Dequeue();
            count++;
            moved = true;
        }
        return moved;
    }

    /// <summary>A few files of pseudo-random bytes (about 300 KB), one in a nested folder and one empty.</summary>
    static void MakeFolder(string dir)
    {
        var random = new Random(20240611);
        var files = new Dictionary<string, int>
        {
            { "readme.txt", 0 },
            { "big.bin", 200000 },
            { "textures/stone.png", 65537 },
            { "textures/deep/wood.png", 30000 },
            { "empty.dat", 0 },
        };
        foreach (var f in files)
        {
            string path = Path.Combine(dir, f.Key.Replace('/', Path.DirectorySeparatorChar));
            Directory.CreateDirectory(Path.GetDirectoryName(path));
            byte[] data;
            if (f.Key == "readme.txt")
            {
                data = Encoding.UTF8.GetBytes("A mod pack for the C# flow: ünïcödé text too.\n");
            }
            else
            {
                data = new byte[f.Value];
                random.NextBytes(data);
            }
            File.WriteAllBytes(path, data);
        }
    }

    static ulong FolderSize(string dir)
    {
        ulong total = 0;
        foreach (string f in Directory.GetFiles(dir, "*", SearchOption.AllDirectories))
        {
            total += (ulong)new FileInfo(f).Length;
        }
        return total;
    }

    /// <summary>Checks that <paramref name="b"/> holds exactly the files of <paramref name="a"/> with the same bytes; returns the count.</summary>
    static int CompareFolders(string a, string b)
    {
        var left = Directory.GetFiles(a, "*", SearchOption.AllDirectories)
            .Select(f => f.Substring(a.Length + 1)).OrderBy(f => f, StringComparer.Ordinal).ToList();
        var right = Directory.GetFiles(b, "*", SearchOption.AllDirectories)
            .Select(f => f.Substring(b.Length + 1))
            .Where(f => !f.StartsWith(".syncshell-partial"))
            .OrderBy(f => f, StringComparer.Ordinal).ToList();
        Expect(left.SequenceEqual(right), "the received folder has the same files: [" + string.Join(", ", right) + "]");
        foreach (string f in left)
        {
            Expect(Same(File.ReadAllBytes(Path.Combine(a, f)), File.ReadAllBytes(Path.Combine(b, f))), f + " has the same bytes");
        }
        return left.Count;
    }

    static unsafe void Adversarial()
    {
        // A panic inside the library comes back as a status; the process lives on.
        ExpectStatus(Native.syncshell_debug_panic(), Status.ErrPanic, "syncshell_debug_panic");
        string message = Library.LastError();
        Expect(message.Contains("panic"), "the last error tells of the panic: " + message);
        Expect(Library.NowMs() > 0, "the library still answers after a panic");
        Step("panic: ErrPanic (" + message + "), and the process continues");

        // A freed handle is an error, not a crash.
        Identity doomed = Identity.Generate();
        ulong raw = doomed.RawHandle;
        doomed.Dispose();
        doomed.Dispose();
        ExpectStatus(Native.syncshell_identity_free(raw), Status.ErrInvalidHandle, "freeing a freed handle");
        ulong text;
        ExpectStatus(Native.syncshell_identity_peer_id(raw, &text), Status.ErrInvalidHandle, "using a freed handle");
        Expect(Library.LastError().Length > 0, "the last error describes the freed handle");
        try
        {
            string id = doomed.PeerId;
            Expect(false, "a disposed wrapper refuses calls, got " + id);
        }
        catch (ObjectDisposedException)
        {
        }
        Step("freed handle: double Dispose is harmless; Native free/use give ErrInvalidHandle (" + Library.LastError() + ")");

        // A handle of the wrong kind.
        using (Identity someone = Identity.Generate())
        {
            ulong bytes;
            ExpectStatus(Native.syncshell_genesis_encode(someone.RawHandle, &bytes), Status.ErrWrongHandleKind, "a genesis call on an identity");
            Expect(Library.LastError().Length > 0, "the last error describes the wrong kind");
            Step("wrong kind: ErrWrongHandleKind (" + Library.LastError() + ")");
            try
            {
                someone.Save(null, "x", 64, 1, 1);
                Expect(false, "a null path is refused");
            }
            catch (SyncshellException e)
            {
                ExpectStatus(e.Status, Status.ErrNullArgument, "a null path through the wrapper");
            }
        }

        // NULL out pointers and 0 handles.
        ExpectStatus(Native.syncshell_identity_generate(null), Status.ErrNullArgument, "a NULL out pointer");
        Expect(Library.LastError().Length > 0, "the last error describes the NULL argument");
        ulong none;
        ExpectStatus(Native.syncshell_identity_peer_id(0, &none), Status.ErrNullArgument, "handle 0");
        Step("NULL out pointer and handle 0: ErrNullArgument (" + Library.LastError() + ")");

        // Bad input comes back as exceptions with text.
        try
        {
            Genesis.Decode(new byte[] { 1, 2, 3 }).Dispose();
            Expect(false, "garbage is not a genesis");
        }
        catch (SyncshellException e)
        {
            ExpectStatus(e.Status, Status.ErrDecode, "decoding garbage as a genesis");
            Step("garbage genesis: " + e.Message);
        }
        try
        {
            Identity.FromSecret(new byte[5]).Dispose();
            Expect(false, "a 5-byte secret is refused");
        }
        catch (SyncshellException e)
        {
            ExpectStatus(e.Status, Status.ErrInvalidArgument, "a 5-byte secret");
        }
        Expect(Library.StatusName(Status.ErrTimeout) == "SYNCSHELL_ERR_TIMEOUT", "status names come from the library");
    }
}
