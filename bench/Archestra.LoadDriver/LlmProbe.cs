using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;

namespace Archestra.LoadDriver;

/// <summary>
/// Chat completions one at a time (concurrency 1) against an OpenAI-compatible endpoint, timing each request from
/// just before <c>SendAsync</c> to (a) the first SSE <c>data:</c> event whose delta has non-empty content (time to
/// first token; for a JSON answer, the first read that holds the content) and (b) the end of the body. Prints
/// <c>RESULT requests=N errors=N ttft_p50_us=… ttft_p90_us=… ttft_p99_us=… total_p50_us=… total_p90_us=… total_p99_us=…</c>.
/// wrk cannot do this: it only sees whole responses. The client's own cost is the same for every target, so the
/// differences between targets in one run are what a proxy adds.
/// </summary>
internal static class LlmProbe
{
    private const string Usage =
        "usage: Archestra.LoadDriver llm --url URL/chat/completions [--stream] [--requests 5000] [--warmup 500] [--header 'Name: value']...";

    private static ReadOnlySpan<byte> ContentKey => "\"content\":\""u8;

    public static async Task<int> RunAsync(string[] args)
    {
        Uri? url = null;
        var stream = false;
        int requests = 5000,
            warmup = 500;
        var headers = new List<(string Name, string Value)>();
        for (var i = 0; i < args.Length; i++)
        {
            var value = i + 1 < args.Length ? args[i + 1] : "";
            switch (args[i])
            {
                case "--url" when Uri.TryCreate(value, UriKind.Absolute, out var u):
                    url = u;
                    i++;
                    break;
                case "--stream":
                    stream = true;
                    break;
                case "--requests" when int.TryParse(value, CultureInfo.InvariantCulture, out var n) && n > 0:
                    requests = n;
                    i++;
                    break;
                case "--warmup" when int.TryParse(value, CultureInfo.InvariantCulture, out var n) && n >= 0:
                    warmup = n;
                    i++;
                    break;
                case "--header" when value.IndexOf(':', StringComparison.Ordinal) > 0:
                    headers.Add(
                        (value[..value.IndexOf(':', StringComparison.Ordinal)].Trim(), value[(value.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim())
                    );
                    i++;
                    break;
                default:
                    Console.Error.WriteLine(Usage);
                    return 2;
            }
        }

        if (url is null)
        {
            Console.Error.WriteLine(Usage);
            return 2;
        }

        using var handler = new SocketsHttpHandler
        {
            MaxConnectionsPerServer = 1,
            UseProxy = false,
            AutomaticDecompression = System.Net.DecompressionMethods.None,
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
        };
        using var client = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(30) };
        var body = Encoding.UTF8.GetBytes(
            stream
                ? """{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello"}],"stream":true,"stream_options":{"include_usage":true}}"""
                : """{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello"}]}"""
        );
        var buffer = new byte[64 * 1024];
        var ttft = new List<long>(requests);
        var total = new List<long>(requests);
        var errors = 0;
        string? firstError = null;
        for (var i = 0; i < warmup + requests; i++)
        {
            var (first, end, error) = await OnceAsync(client, url, body, headers, buffer);
            if (error is not null)
            {
                errors++;
                firstError ??= error;
                continue;
            }

            if (i >= warmup)
            {
                ttft.Add(first);
                total.Add(end);
            }
        }

        ttft.Sort();
        total.Sort();
        static double Us(List<long> sorted, double p) =>
            sorted.Count == 0 ? 0 : sorted[Math.Min(sorted.Count - 1, (int)(p / 100 * sorted.Count))] * 1e6 / Stopwatch.Frequency;
        Console.WriteLine(
            string.Create(
                CultureInfo.InvariantCulture,
                $"RESULT requests={total.Count} errors={errors} ttft_p50_us={Us(ttft, 50):F0} ttft_p90_us={Us(ttft, 90):F0} "
                    + $"ttft_p99_us={Us(ttft, 99):F0} total_p50_us={Us(total, 50):F0} total_p90_us={Us(total, 90):F0} total_p99_us={Us(total, 99):F0}"
            )
        );
        if (firstError is not null)
        {
            Console.Error.WriteLine($"first error: {firstError}");
        }

        return 0;
    }

    private static async Task<(long First, long End, string? Error)> OnceAsync(
        HttpClient client,
        Uri url,
        byte[] body,
        List<(string Name, string Value)> headers,
        byte[] buffer
    )
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        foreach (var (name, value) in headers)
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        var start = Stopwatch.GetTimestamp();
        try
        {
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            await using var content = await response.Content.ReadAsStreamAsync();
            long first = 0;
            var filled = 0;
            int read;
            while ((read = await content.ReadAsync(buffer.AsMemory(filled))) > 0)
            {
                filled += read;
                if (first == 0 && HasContent(buffer.AsSpan(0, filled)))
                {
                    first = Stopwatch.GetTimestamp() - start;
                }

                if (filled == buffer.Length)
                {
                    return (0, 0, "answer larger than 64 KB");
                }
            }

            var end = Stopwatch.GetTimestamp() - start;
            if (!response.IsSuccessStatusCode || first == 0)
            {
                return (0, 0, $"{(int)response.StatusCode}: {Encoding.UTF8.GetString(buffer, 0, Math.Min(filled, 500))}");
            }

            return (first, end, null);
        }
        catch (HttpRequestException e)
        {
            return (0, 0, e.Message);
        }
    }

    /// <summary>Whether the bytes hold <c>"content":"</c> followed by at least one character (the role chunk's "" does not count).</summary>
    private static bool HasContent(ReadOnlySpan<byte> bytes)
    {
        while (true)
        {
            var at = bytes.IndexOf(ContentKey);
            if (at < 0 || at + ContentKey.Length >= bytes.Length)
            {
                return false;
            }

            if (bytes[at + ContentKey.Length] != (byte)'"')
            {
                return true;
            }

            bytes = bytes[(at + ContentKey.Length)..];
        }
    }
}
