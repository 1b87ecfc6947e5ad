using System.Diagnostics;
using Archestra.AuditBench;
using Archestra.Storage;
using Archestra.Storage.Tests.Infrastructure;

// Audit writer benchmark and the storage tests' kill -9 child.
//   dotnet run -c Release --project bench/Archestra.AuditBench -- [--records N] [--url postgres://...] [--capacity N] [--deadline-ms N]
//   ... -- kill-child --url URL --spill DIR --rate N --flush-ms MS --deadline-ms MS   (used by the storage tests; prints "enqueued N" lines)
if (args.Length > 0 && args[0] == "kill-child")
{
    return await KillChild.RunAsync(args);
}

var records = IntArg(args, "--records", 1_000_000);
var capacity = IntArg(args, "--capacity", records);
var batchSize = IntArg(args, "--batch", 1_000);

// How fast the writer can write: a burst of a million records waits seconds for a connection, which the default
// 200 ms write deadline would send through the spill (pass --deadline-ms 200 to measure that path).
var deadline = TimeSpan.FromMilliseconds(IntArg(args, "--deadline-ms", 600_000));
var url = StringArg(args, "--url");
PostgresServer? server = null;
if (url is null)
{
    server = new PostgresServer();
    await server.InitializeAsync();
    url = await server.CreateDatabaseAsync();
    Console.WriteLine($"PostgreSQL: {PostgresServer.FindBinaries()} on port {server.Port} (fsync=off)");
}

var spill = Directory.CreateTempSubdirectory("archestra-auditbench-").FullName;
try
{
    var options = new StorageOptions
    {
        DatabaseUrl = url,
        SpillDirectory = spill,
        ChannelCapacity = capacity,
        BatchSize = batchSize,
        WriteDeadline = deadline,
        RetentionDays = 0,
    };
    await using var store = await ArchestraStore.OpenAsync(options);

    // Records are built before timing: the hot path's cost is Enqueue, the record is the caller's.
    var batch = Build(records);
    var writer = store.CreateAuditWriter();

    // Warm-up pass of the same size (not counted): JIT, connection, and the channel's internal queue, which grows
    // (doubling) to the deepest backlog it has held and never shrinks; after that, Enqueue allocates nothing. Enqueued
    // before the writer starts, so the backlog reaches its full depth: the writer drains the channel as fast as it
    // fills, and how deep a concurrent pass gets depends on the scheduler.
    var warm = Build(records);
    foreach (var r in warm)
    {
        writer.Enqueue(r);
    }

    writer.Start();

    while (writer.Metrics.Written < warm.Length)
    {
        await Task.Delay(10);
    }

    GC.Collect();
    var start = Stopwatch.GetTimestamp();
    var allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
    var overflowed = 0;
    foreach (var r in batch)
    {
        if (!writer.Enqueue(r))
        {
            overflowed++;
        }
    }

    var allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
    var enqueueSeconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
    var target = warm.Length + records - overflowed;
    while (writer.Metrics.Written < target)
    {
        await Task.Delay(1);
    }

    var writtenSeconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
    await writer.StopAsync();
    var total = Stopwatch.GetElapsedTime(start).TotalSeconds;
    var (rows, distinct) = await store.CountAuditAsync(AuditKind.McpToolCall);

    Console.WriteLine(
        $"records:            {records:N0} (channel capacity {capacity:N0}, batch {options.BatchSize:N0}, flush "
            + $"{options.FlushInterval.TotalMilliseconds} ms, write deadline {options.WriteDeadline.TotalMilliseconds} ms)"
    );
    Console.WriteLine(
        $"enqueue:            {records / enqueueSeconds:N0} records/s ({enqueueSeconds * 1e9 / records:F1} ns each), {allocated} bytes "
            + $"allocated in total on the enqueuing thread ({(double)allocated / records:F3} B/record)"
    );
    Console.WriteLine($"overflowed to spill: {overflowed:N0}");
    Console.WriteLine(
        $"written (queue):    {(records - overflowed) / writtenSeconds:N0} records/s sustained ({writtenSeconds:F2} s from first enqueue "
            + "to last queued record committed)"
    );
    Console.WriteLine($"written (all):      {records / total:N0} records/s including spill replay and drain ({total:F2} s)");
    Console.WriteLine($"rows in table:      {rows:N0} ({distinct:N0} distinct ids, {warm.Length:N0} of them warm-up)");
    Console.WriteLine($"batches:            errors {writer.Metrics.WriteErrors}, spilled {writer.Metrics.Spilled:N0}");
    return rows == warm.Length + records && distinct == rows && allocated == 0 ? 0 : 1;
}
finally
{
    Directory.Delete(spill, recursive: true);
    if (server is not null)
    {
        await server.DisposeAsync();
    }
}

static McpToolCallRecord[] Build(int count)
{
    var result = new McpToolCallRecord[count];
    var now = DateTime.UtcNow;
    for (var i = 0; i < count; i++)
    {
        result[i] = new McpToolCallRecord
        {
            Profile = "default",
            SessionId = "c0ffee00-0000-4000-8000-00000000000" + (i % 10),
            Server = "github",
            Tool = i % 3 == 0 ? "search_issues" : "get_file_contents",
            Decision = "allow",
            Outcome = i % 50 == 0 ? "error" : "ok",
            DurationMicroseconds = 1_000 + (i % 5_000),
            RequestBytes = 180 + (i % 100),
            ResponseBytes = 2_000 + (i % 3_000),
            Error = i % 50 == 0 ? "upstream timeout" : null,
            Arguments = "{\"owner\":\"archestra-ai\",\"repo\":\"archestra\",\"path\":\"README.md\"}",
        };
    }

    return result;
}

static int IntArg(string[] args, string name, int fallback)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], System.Globalization.CultureInfo.InvariantCulture) : fallback;
}

static string? StringArg(string[] args, string name)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
}
