using System.Net;
using System.Text;
using Archestra.Runtime.Buffers;
using Archestra.Runtime.Upstreams;

namespace Archestra.Runtime.Http;

/// <summary>What both HTTP transports share: the connection pool, headers, body reading and error text.</summary>
internal static class UpstreamHttp
{
    public const string JsonAndEventStream = "application/json, text/event-stream";

    // One JSON-RPC message (a body or one SSE event) may not exceed this: protects the gateway's memory
    // from a runaway upstream while leaving room for large resource contents.
    public const int MaxMessageBytes = 64 * 1024 * 1024;

    // One read asks for at most this much. A loopback socket hands out about as much per read anyway, and a read
    // into the whole free part of a 64 MiB buffer left that buffer referenced after the answer was refused (measured
    // in MemoryBoundsTests: 64 MiB still on the heap after a refused event-stream answer, 1 MiB with this).
    public const int MaxReadBytes = 64 * 1024;

    // Reconnect delays stop growing here; 30 s matches the MCP TypeScript SDK's maxReconnectionDelay.
    public static readonly TimeSpan MaxReconnectDelay = TimeSpan.FromSeconds(30);

    // How much of an error body goes into an error message.
    private const int ErrorBodyPreviewBytes = 200;

    public static HttpMessageInvoker CreateInvoker() =>
        new(
            new SocketsHttpHandler
            {
                // Re-resolve DNS periodically (the HttpClient guidelines' recommendation for long-lived handlers).
                PooledConnectionLifetime = TimeSpan.FromMinutes(2),
                UseCookies = false,
                AutomaticDecompression = DecompressionMethods.None,
                // A redirect would carry the configured credentials to another place; MCP endpoints do not redirect.
                AllowAutoRedirect = false,
                // Without it a black-holed host holds a GET-stream reconnect forever; calls have their own timeout.
                ConnectTimeout = TimeSpan.FromSeconds(10),
            },
            disposeHandler: true
        );

    public static KeyValuePair<string, string>[] Flatten(IReadOnlyDictionary<string, string> headers)
    {
        var result = new KeyValuePair<string, string>[headers.Count];
        var i = 0;
        foreach (var pair in headers)
        {
            result[i++] = pair;
        }

        return result;
    }

    public static void AddHeaders(HttpRequestMessage request, KeyValuePair<string, string>[] headers)
    {
        foreach (var (name, value) in headers)
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }
    }

    public static bool IsMediaType(HttpResponseMessage response, string mediaType) =>
        string.Equals(response.Content.Headers.ContentType?.MediaType, mediaType, StringComparison.OrdinalIgnoreCase);

    /// <summary>Reads a whole JSON body; into an array of exactly Content-Length bytes when the length is known.</summary>
    public static async ValueTask<byte[]> ReadBodyAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var length = response.Content.Headers.ContentLength;
        var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            if (length is { } known)
            {
                if (known > MaxMessageBytes)
                {
                    throw new InvalidDataException($"the response body has {known} bytes, more than the limit of {MaxMessageBytes}");
                }

                var exact = new byte[known];
                await stream.ReadExactlyAsync(exact, cancellationToken).ConfigureAwait(false);
                return exact;
            }

            // Without a length: pooled segments growing from 16 KiB to 1 MiB, joined once at the end. Doubling one
            // buffer instead made 126 MiB of large-object garbage for each answer refused at the 64 MiB limit, and
            // four such answers at once kept ~500 MB resident (bench/README.md, "Memory bounds").
            var segments = new List<byte[]>();
            var current = BytePool.Rent(16 * 1024);
            var used = 0;
            var total = 0;
            try
            {
                while (true)
                {
                    if (used == current.Length)
                    {
                        segments.Add(current);
                        current = BytePool.Rent(Math.Min(current.Length * 2, BytePool.MaxPooledLength));
                        used = 0;
                    }

                    var read = await stream
                        .ReadAsync(current.AsMemory(used, Math.Min(current.Length - used, MaxReadBytes)), cancellationToken)
                        .ConfigureAwait(false);
                    if (read == 0)
                    {
                        break;
                    }

                    used += read;
                    total += read;
                    if (total > MaxMessageBytes)
                    {
                        throw new InvalidDataException($"the response body is larger than the limit of {MaxMessageBytes} bytes");
                    }
                }

                var body = GC.AllocateUninitializedArray<byte>(total);
                var offset = 0;
                foreach (var segment in segments)
                {
                    segment.CopyTo(body, offset);
                    offset += segment.Length;
                }

                current.AsSpan(0, used).CopyTo(body.AsSpan(offset));
                return body;
            }
            finally
            {
                foreach (var segment in segments)
                {
                    BytePool.Return(segment);
                }

                BytePool.Return(current);
            }
        }
    }

    /// <summary>"MCP server 'x' at URL answered HTTP 503 Service Unavailable: {body preview}".</summary>
    public static async ValueTask<string> DescribeStatusAsync(string server, Uri url, HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var preview = string.Empty;
        try
        {
            var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            await using (stream.ConfigureAwait(false))
            {
                var buffer = new byte[ErrorBodyPreviewBytes];
                var read = await stream.ReadAtLeastAsync(buffer, ErrorBodyPreviewBytes, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
                preview = Encoding.UTF8.GetString(buffer, 0, read).ReplaceLineEndings(" ").Trim();
            }
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException)
        {
            // The status says enough.
        }

        var status = $"HTTP {(int)response.StatusCode} {response.ReasonPhrase}".TrimEnd();
        return preview.Length == 0 ? $"MCP server '{server}' at {url} answered {status}" : $"MCP server '{server}' at {url} answered {status}: {preview}";
    }

    /// <summary>Maps an exception from sending or reading to a failure naming the server, the URL and the cause.</summary>
    public static UpstreamCallResult Describe(string server, Uri url, Exception exception) =>
        exception switch
        {
            InvalidDataException data => UpstreamCallResult.Failure(
                UpstreamError.Protocol,
                $"MCP server '{server}' at {url} sent an invalid response: {data.Message}"
            ),
            _ when HttpFailure.IsConnectFailure(exception) => UpstreamCallResult.Failure(
                UpstreamError.ConnectFailed,
                $"MCP server '{server}' at {url} could not be reached: {HttpFailure.Describe(exception)}"
            ),
            _ => UpstreamCallResult.Failure(UpstreamError.Disconnected, $"MCP server '{server}' at {url} failed: {HttpFailure.Describe(exception)}"),
        };

    /// <summary>Exponential backoff with full jitter, from <paramref name="initial"/> up to <see cref="MaxReconnectDelay"/>.</summary>
    public static TimeSpan Backoff(TimeSpan initial, int failures)
    {
        var ticks = Math.Max(initial.Ticks, TimeSpan.TicksPerMillisecond);
        for (var i = 1; i < failures && ticks < MaxReconnectDelay.Ticks; i++)
        {
            ticks *= 2;
        }

        ticks = Math.Min(ticks, MaxReconnectDelay.Ticks);
        // Half fixed, half random: replicas that lost the same upstream do not reconnect in lockstep.
        return TimeSpan.FromTicks((ticks / 2) + Random.Shared.NextInt64(ticks / 2 + 1));
    }

    public static bool IsRetryable(HttpStatusCode status) => (int)status >= 500 || status == HttpStatusCode.TooManyRequests;
}
