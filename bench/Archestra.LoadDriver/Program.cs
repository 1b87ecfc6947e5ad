using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;

namespace Archestra.LoadDriver;

/// <summary>
/// MCP session load: opens one session (initialize + notifications/initialized) and has N workers
/// call tools/call in it back to back, then prints the same RESULT line as bench/load/tools-call.lua.
/// Needed where wrk cannot go: supergateway's stateless mode spawns a new stdio child per POST, so a
/// fair comparison with a shared stdio server has to go through one stateful session.
/// <c>Archestra.LoadDriver llm ...</c> measures LLM chat completions instead (<see cref="LlmProbe"/>).
/// </summary>
public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "llm")
        {
            return await LlmProbe.RunAsync(args[1..]);
        }

        if (!Options.TryParse(args, out var options))
        {
            Console.Error.WriteLine("usage: Archestra.LoadDriver --url URL [--workers 16] [--duration 10] [--warmup 3] [--stateless]");
            return 2;
        }

        using var handler = new SocketsHttpHandler
        {
            MaxConnectionsPerServer = options.Workers,
            UseProxy = false,
            AutomaticDecompression = DecompressionMethods.None,
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
        };
        using var client = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(30) };
        var session = options.Stateless ? null : await Session.OpenAsync(client, options.Url);

        await RunAsync(client, options, session, TimeSpan.FromSeconds(options.WarmupSeconds), record: false);
        var result = await RunAsync(client, options, session, TimeSpan.FromSeconds(options.DurationSeconds), record: true);
        Console.WriteLine(result);
        return 0;
    }

    private static async Task<string> RunAsync(HttpClient client, Options options, Session? session, TimeSpan duration, bool record)
    {
        var nextId = 0L;
        var errors = 0L;
        var deadline = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        var latencies = new List<long>[options.Workers];
        var started = Stopwatch.GetTimestamp();
        var workers = new Task[options.Workers];
        for (var w = 0; w < workers.Length; w++)
        {
            var mine = latencies[w] = new List<long>(record ? 1 << 16 : 0);
            workers[w] = Task.Run(async () =>
            {
                while (Stopwatch.GetTimestamp() < deadline)
                {
                    var id = Interlocked.Increment(ref nextId);
                    var sent = Stopwatch.GetTimestamp();
                    if (!await CallAsync(client, options.Url, session, id))
                    {
                        Interlocked.Increment(ref errors);
                    }

                    if (record)
                    {
                        mine.Add(Stopwatch.GetTimestamp() - sent);
                    }
                }
            });
        }

        await Task.WhenAll(workers);
        var elapsed = Stopwatch.GetElapsedTime(started).TotalSeconds;
        var all = new List<long>();
        foreach (var list in latencies)
        {
            all.AddRange(list);
        }

        all.Sort();
        double Us(double percentile) => all.Count == 0 ? 0 : all[Math.Min(all.Count - 1, (int)(percentile / 100 * all.Count))] * 1e6 / Stopwatch.Frequency;
        return string.Create(
            CultureInfo.InvariantCulture,
            $"RESULT rps={all.Count / elapsed:F1} p50_us={Us(50):F0} p90_us={Us(90):F0} p99_us={Us(99):F0} p999_us={Us(99.9):F0} "
                + $"max_us={Us(100):F0} requests={all.Count} socket_errors=0 non2xx={errors}"
        );
    }

    private static async Task<bool> CallAsync(HttpClient client, Uri url, Session? session, long id)
    {
        var body = Encoding.UTF8.GetBytes(
            """{"jsonrpc":"2.0","id":"""
                + id.ToString(CultureInfo.InvariantCulture)
                + ""","method":"tools/call","params":{"name":"echo","arguments":{"message":"hi"}}}"""
        );
        using var request = Session.Post(url, session, body);
        try
        {
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseContentRead);
            var text = await response.Content.ReadAsStringAsync();
            return response.StatusCode == HttpStatusCode.OK && text.Contains("\"text\":\"ok\"", StringComparison.Ordinal);
        }
        catch (HttpRequestException)
        {
            return false;
        }
    }
}

internal sealed class Session
{
    private Session(string id, string protocolVersion)
    {
        Id = id;
        ProtocolVersion = protocolVersion;
    }

    public string Id { get; }

    public string ProtocolVersion { get; }

    public static async Task<Session> OpenAsync(HttpClient client, Uri url)
    {
        const string version = "2025-06-18";
        var initialize = Encoding.UTF8.GetBytes(
            """{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"""
                + "\""
                + version
                + "\""
                + ""","capabilities":{},"clientInfo":{"name":"archestra-load-driver","version":"1.0.0"}}}"""
        );
        using (var request = Post(url, null, initialize))
        using (var response = await client.SendAsync(request))
        {
            var text = await response.Content.ReadAsStringAsync();
            if (!response.IsSuccessStatusCode || !response.Headers.TryGetValues("Mcp-Session-Id", out var ids))
            {
                throw new InvalidOperationException($"initialize failed: {(int)response.StatusCode} {text}");
            }

            var session = new Session(ids.First(), version);
            using var initialized = Post(url, session, """{"jsonrpc":"2.0","method":"notifications/initialized"}"""u8.ToArray());
            using var ack = await client.SendAsync(initialized);
            if (!ack.IsSuccessStatusCode)
            {
                throw new InvalidOperationException($"notifications/initialized failed: {(int)ack.StatusCode}");
            }

            return session;
        }
    }

    public static HttpRequestMessage Post(Uri url, Session? session, byte[] body)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.Accept.ParseAdd("application/json");
        request.Headers.Accept.ParseAdd("text/event-stream");
        if (session is not null)
        {
            request.Headers.Add("Mcp-Session-Id", session.Id);
            request.Headers.Add("MCP-Protocol-Version", session.ProtocolVersion);
        }

        return request;
    }
}

internal sealed record Options(Uri Url, int Workers, double DurationSeconds, double WarmupSeconds, bool Stateless)
{
    public static bool TryParse(string[] args, out Options options)
    {
        Uri? url = null;
        int workers = 16;
        double duration = 10,
            warmup = 3;
        var stateless = false;
        for (var i = 0; i < args.Length; i++)
        {
            var value = i + 1 < args.Length ? args[i + 1] : "";
            switch (args[i])
            {
                case "--url" when Uri.TryCreate(value, UriKind.Absolute, out var u):
                    url = u;
                    i++;
                    break;
                case "--workers" when int.TryParse(value, CultureInfo.InvariantCulture, out var n) && n > 0:
                    workers = n;
                    i++;
                    break;
                case "--duration" when double.TryParse(value, CultureInfo.InvariantCulture, out var d) && d > 0:
                    duration = d;
                    i++;
                    break;
                case "--warmup" when double.TryParse(value, CultureInfo.InvariantCulture, out var d) && d >= 0:
                    warmup = d;
                    i++;
                    break;
                case "--stateless":
                    stateless = true;
                    break;
                default:
                    options = null!;
                    return false;
            }
        }

        options = new Options(url!, workers, duration, warmup, stateless);
        return url is not null;
    }
}
