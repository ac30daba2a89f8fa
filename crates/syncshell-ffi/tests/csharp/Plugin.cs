// Plugin.cs: what a game plugin does with SyncshellMember (bindings/csharp/Syncshell.cs), run
// by tests/csharp.rs as two mono processes beside a relay on 127.0.0.1:
//   mono plugin.exe owner RELAY DATA SHARE        creates a shell, shares SHARE, prints an invite
//   mono plugin.exe guest RELAY DATA RECEIVE TEXT  joins by invite, receives with approval on
// The main loop is a framework tick: Pump() raises the events on this thread, then the commands
// the test wrote on stdin run (`add NAME TEXT` puts a file in the share, `revoke WHO`, `quit`).
// A received file whose name starts with "deny" is denied, any other approved. At the end the
// plugin disposes the member, calls Library.Shutdown() and reports the library's threads.
using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading;
using Syncshell;

static class Plugin
{
    static readonly ConcurrentQueue<string> Commands = new ConcurrentQueue<string>();

    static void Say(string line)
    {
        Console.WriteLine(line);
        Console.Out.Flush();
    }

    /// <summary>The process's threads by id and name (Linux: /proc/self/task).</summary>
    static Dictionary<string, string> Threads()
    {
        var threads = new Dictionary<string, string>();
        foreach (string task in Directory.GetDirectories("/proc/self/task"))
        {
            string name;
            try
            {
                name = File.ReadAllText(Path.Combine(task, "comm")).Trim();
            }
            catch (IOException)
            {
                continue; // it ended meanwhile
            }
            threads[Path.GetFileName(task)] = name;
        }
        return threads;
    }

    static int Main(string[] args)
    {
        string role = args[0], relay = args[1], data = args[2], folder = args[3];
        bool owner = role == "owner";
        var reader = new Thread(() =>
        {
            string line;
            while ((line = Console.ReadLine()) != null)
            {
                Commands.Enqueue(line);
            }
        });
        reader.IsBackground = true;
        reader.Start();

        var options = new MemberOptions { DataFolder = data, Name = owner ? "Ava" : "Bo" };
        options.Relays.Add(relay);
        if (owner)
        {
            options.Passphrase = Encoding.UTF8.GetBytes("ava's words");
            options.CreateShell = "Raid";
            options.Share = folder;
        }
        else
        {
            // A key the plugin keeps itself (under DPAPI on Windows): no key file.
            options.Secret = Enumerable.Repeat((byte)7, 32).ToArray();
            options.Invite = args[4];
            options.JoinTimeoutMs = 30000;
            options.Receive = folder;
            options.Approval = true;
        }

        Dictionary<string, string> before = Threads();
        SyncshellMember member = SyncshellMember.Start(options);
        bool quit = false;
        member.Event += e => Say("event " + e);
        member.Ready += e =>
        {
            if (owner)
            {
                Say("invite " + member.Invite(Role.Member, 1, 600000));
            }
        };
        member.FileWaiting += e =>
        {
            if (Path.GetFileName(e.Text).StartsWith("deny"))
            {
                member.Deny(e.Text);
                Say("denied " + e.Text);
            }
            else
            {
                member.Approve(e.Text);
                Say("approved " + e.Text);
            }
        };
        member.StartFailed += e => { Say("failed " + e.Text); quit = true; };
        member.Stopped += e => { Say("stopped " + e.Text); quit = true; };

        DateTime deadline = DateTime.UtcNow.AddSeconds(120);
        while (!quit && !member.HasStopped)
        {
            member.Pump();
            string command;
            while (Commands.TryDequeue(out command))
            {
                string[] words = command.Split(new[] { ' ' }, 3);
                switch (words[0])
                {
                    case "add":
                        File.WriteAllText(Path.Combine(folder, words[1]), words[2]);
                        break;
                    case "revoke":
                        member.Revoke(words[1]);
                        Say("revoked " + words[1]);
                        break;
                    case "links":
                        Say("links " + member.LinkCount);
                        break;
                    case "quit":
                        quit = true;
                        break;
                }
            }
            if (DateTime.UtcNow > deadline)
            {
                Say("timeout");
                return 2;
            }
            Thread.Sleep(16); // one framework tick
        }

        Dictionary<string, string> running = Threads();
        member.Dispose();
        Library.Shutdown();
        Dictionary<string, string> after = Threads();
        // Threads started since the member was, and still here: the library's would be listed.
        var left = after.Where(t => !before.ContainsKey(t.Key)).Select(t => t.Value).ToList();
        var had = running.Where(t => !before.ContainsKey(t.Key)).Select(t => t.Value).ToList();
        Say(string.Format("threads-while-running {0} [{1}]", had.Count, string.Join(",", had)));
        Say(string.Format("threads-left {0} [{1}]", left.Count, string.Join(",", left)));
        return 0;
    }
}
