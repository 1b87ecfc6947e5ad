using System.Diagnostics;
using System.Globalization;
using Archestra.Storage;

namespace Archestra.AuditBench;

/// <summary>
/// The child the kill -9 test SIGKILLs: enqueues tool-call records at a fixed rate with RequestBytes = sequence
/// number (1, 2, 3, ...) and prints "enqueued N" after every 50 records, so the parent knows a lower bound on what
/// was handed to the writer when it killed the process.
/// </summary>
internal static class KillChild
{
    public static async Task<int> RunAsync(string[] args)
    {
        string Arg(string name) => args[Array.IndexOf(args, name) + 1];
        var rate = int.Parse(Arg("--rate"), CultureInfo.InvariantCulture);
        var options = new StorageOptions
        {
            DatabaseUrl = Arg("--url"),
            SpillDirectory = Arg("--spill"),
            RetentionDays = 0,
            FlushInterval = TimeSpan.FromMilliseconds(double.Parse(Arg("--flush-ms"), CultureInfo.InvariantCulture)),
            WriteDeadline = TimeSpan.FromMilliseconds(double.Parse(Arg("--deadline-ms"), CultureInfo.InvariantCulture)),
        };
        await using var store = await ArchestraStore.OpenAsync(options);
        var writer = store.CreateAuditWriter();
        writer.Start();
        Console.WriteLine("ready");
        var start = Stopwatch.GetTimestamp();
        long seq = 0;
        while (true)
        {
            var due = (long)(Stopwatch.GetElapsedTime(start).TotalSeconds * rate);
            while (seq < due)
            {
                seq++;
                writer.Enqueue(
                    new McpToolCallRecord
                    {
                        Profile = "kill",
                        Server = "s",
                        Tool = "t",
                        RequestBytes = seq,
                    }
                );
                if (seq % 50 == 0)
                {
                    Console.WriteLine("enqueued " + seq.ToString(CultureInfo.InvariantCulture));
                }
            }

            await Task.Delay(1);
        }
    }
}
