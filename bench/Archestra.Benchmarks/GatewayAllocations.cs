using System.Collections.Concurrent;
using System.Diagnostics.Tracing;
using System.Net;
using System.Net.Http.Headers;
using Archestra.Gateway;
using Archestra.Gateway.Configuration;
using Microsoft.Extensions.Logging;

namespace Archestra.Benchmarks;

/// <summary>
/// Allocated bytes per tools/call for the whole gateway (Kestrel in, routing, the upstream HTTP call,
/// the answer out): the gateway runs in this process, the upstream in another, and the same client
/// sends the same calls once direct to the upstream and once through the gateway. The difference is
/// what the gateway allocates. GC AllocationTick events (one per ~100 KB allocated) name the types
/// that make up that difference.
/// </summary>
internal static class GatewayAllocations
{
    private static ReadOnlySpan<byte> Call => """{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hi"}}}"""u8;

    /// <param name="quietHosting">
    /// Turns off the Microsoft.AspNetCore.Hosting.Diagnostics logger: while any logger of that category
    /// is enabled, ASP.NET Core starts an Activity per request (for log scopes), and HttpClient then
    /// propagates it upstream as a traceparent header. Shows what that costs.
    /// </param>
    public static async Task<int> RunAsync(Uri upstream, int requests, bool quietHosting, TextWriter output)
    {
        var config = new GatewayConfig
        {
            Listen = new ListenConfig
            {
                Gateway = "http://127.0.0.1:0",
                Admin = "http://127.0.0.1:0",
                Metrics = "http://127.0.0.1:0",
            },
            McpServers =
            [
                new McpServerConfig
                {
                    Name = "up",
                    Kind = McpServerKind.StreamableHttp,
                    Url = upstream,
                },
            ],
            Profiles = [new ProfileConfig { Name = "bench", Servers = ["up"] }],
            Storage = new StorageConfig { DataDirectory = Directory.CreateTempSubdirectory("archestra-bench-").FullName },
        };
        await using var server = await GatewayServer.StartAsync(config, CancellationToken.None, logging =>
        {
            logging.SetMinimumLevel(LogLevel.Warning);
            if (quietHosting)
            {
                logging.AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.None);
            }
        });
        var gateway = new Uri(server.GatewayUrl, "/v1/mcp/bench");

        using var client = new HttpClient(new SocketsHttpHandler { UseProxy = false, MaxConnectionsPerServer = 1 });
        await WaitReadyAsync(client, new Uri(server.GatewayUrl, "/readyz"));
        var body = Call.ToArray();

        await SendAsync(client, upstream, body, requests / 4);
        await SendAsync(client, gateway, body, requests / 4);

        using var sampler = new AllocationSampler();
        var direct = long.MaxValue;
        var through = long.MaxValue;
        Dictionary<string, long> directTypes = [],
            gatewayTypes = [];
        for (var round = 0; round < 3; round++)
        {
            var (bytes, types) = await MeasureAsync(client, upstream, body, requests, sampler);
            if (bytes < direct)
            {
                (direct, directTypes) = (bytes, types);
            }

            (bytes, types) = await MeasureAsync(client, gateway, body, requests, sampler);
            if (bytes < through)
            {
                (through, gatewayTypes) = (bytes, types);
            }
        }

        output.WriteLine($"requests per round:                 {requests}{(quietHosting ? " (Microsoft.AspNetCore.Hosting.Diagnostics logger off)" : "")}");
        output.WriteLine($"client + direct to the upstream:    {direct / requests, 7} B/request");
        output.WriteLine($"client + through the gateway:       {through / requests, 7} B/request");
        output.WriteLine($"the gateway's share:                {(through - direct) / requests, 7} B/request");
        output.WriteLine();
        output.WriteLine("sampled allocations by type, gateway run minus direct run (B/request, estimated from ~100 KB AllocationTick samples):");
        var rows = new List<(string Type, long Bytes)>();
        foreach (var (type, bytes) in gatewayTypes)
        {
            var extra = bytes - directTypes.GetValueOrDefault(type);
            if (extra > 0)
            {
                rows.Add((type, extra));
            }
        }

        rows.Sort(static (a, b) => b.Bytes.CompareTo(a.Bytes));
        foreach (var (type, bytes) in rows.Take(25))
        {
            output.WriteLine($"  {bytes / (double)requests, 8:F1}  {type}");
        }

        return 0;
    }

    private static async Task<(long Bytes, Dictionary<string, long> Types)> MeasureAsync(
        HttpClient client,
        Uri url,
        byte[] body,
        int requests,
        AllocationSampler sampler
    )
    {
        GC.Collect();
        sampler.Reset();
        var before = GC.GetTotalAllocatedBytes(precise: true);
        await SendAsync(client, url, body, requests);
        var bytes = GC.GetTotalAllocatedBytes(precise: true) - before;
        return (bytes, sampler.Snapshot());
    }

    private static async Task SendAsync(HttpClient client, Uri url, byte[] body, int requests)
    {
        for (var i = 0; i < requests; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new ByteArrayContent(body) };
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            request.Headers.Accept.ParseAdd("application/json");
            request.Headers.Accept.ParseAdd("text/event-stream");
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseContentRead);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                throw new InvalidOperationException($"{url} answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
            }
        }
    }

    private static async Task WaitReadyAsync(HttpClient client, Uri readyz)
    {
        for (var i = 0; i < 200; i++)
        {
            using var response = await client.GetAsync(readyz);
            if (response.StatusCode == HttpStatusCode.OK)
            {
                return;
            }

            await Task.Delay(50);
        }

        throw new InvalidOperationException("the gateway did not become ready in 10 s");
    }

    /// <summary>Collects GCAllocationTick events (the runtime raises one per ~100 KB allocated, naming the type that crossed the mark).</summary>
    private sealed class AllocationSampler : EventListener
    {
        private const int AllocationTickEventId = 10;
        private const EventKeywords GcKeyword = (EventKeywords)0x1;
        private ConcurrentDictionary<string, long> _bytes = new(StringComparer.Ordinal);

        public void Reset() => _bytes = new ConcurrentDictionary<string, long>(StringComparer.Ordinal);

        public Dictionary<string, long> Snapshot() => new(_bytes, StringComparer.Ordinal);

        protected override void OnEventSourceCreated(EventSource eventSource)
        {
            if (eventSource.Name == "Microsoft-Windows-DotNETRuntime")
            {
                EnableEvents(eventSource, EventLevel.Verbose, GcKeyword);
            }
        }

        protected override void OnEventWritten(EventWrittenEventArgs eventData)
        {
            if (eventData.EventId != AllocationTickEventId || eventData.Payload is null || eventData.PayloadNames is null)
            {
                return;
            }

            var type = "?";
            long amount = 0;
            for (var i = 0; i < eventData.PayloadNames.Count; i++)
            {
                switch (eventData.PayloadNames[i])
                {
                    case "TypeName":
                        type = eventData.Payload[i] as string ?? "?";
                        break;
                    case "AllocationAmount64":
                        amount = Convert.ToInt64(eventData.Payload[i], System.Globalization.CultureInfo.InvariantCulture);
                        break;
                }
            }

            _bytes.AddOrUpdate(type, amount, (_, total) => total + amount);
        }
    }
}
