using System.Text;
using Archestra.Runtime.JsonRpc;
using Archestra.Runtime.Upstreams;
using Microsoft.Extensions.Logging;

namespace Archestra.Runtime.Http;

/// <summary>
/// An MCP server reached over the HTTP+SSE transport of MCP 2024-11-05: a GET opens an event stream whose
/// first event (<c>endpoint</c>) names the URL to POST messages to; every answer arrives on the stream.
/// When the stream is lost, calls in flight fail and the upstream reconnects with backoff.
/// </summary>
public sealed class LegacySseUpstream : McpUpstream
{
    private readonly HttpUpstreamOptions _options;
    private readonly HttpMessageInvoker _http;
    private readonly KeyValuePair<string, string>[] _headers;
    private readonly CancellationTokenSource _stopping = new();
    private volatile Uri? _endpoint;

    public LegacySseUpstream(HttpUpstreamOptions options, IUpstreamListener listener, ILogger logger)
        : base(options, listener, logger)
    {
        _options = options;
        _http = UpstreamHttp.CreateInvoker();
        _headers = UpstreamHttp.Flatten(options.Headers);
    }

    /// <summary>The URL messages are posted to, from the stream's <c>endpoint</c> event.</summary>
    public Uri? Endpoint => _endpoint;

    protected override async Task SuperviseAsync()
    {
        var failures = 0;
        while (!_stopping.IsCancellationRequested)
        {
            var wasReady = await RunOnceAsync().ConfigureAwait(false);
            FirstAttemptDone();
            if (_stopping.IsCancellationRequested)
            {
                break;
            }

            failures = wasReady ? 1 : failures + 1;
            var delay = UpstreamHttp.Backoff(_options.RetryDelay, failures);
            HttpLog.ReconnectScheduled(Logger, Name, delay.TotalMilliseconds);
            try
            {
                await Task.Delay(delay, _stopping.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    /// <summary>One connection: open the stream, learn the endpoint, handshake, read until the stream ends.</summary>
    private async Task<bool> RunOnceAsync()
    {
        using var connection = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
        var ready = false;
        string detail;
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, _options.Url);
            request.Headers.TryAddWithoutValidation("Accept", "text/event-stream");
            UpstreamHttp.AddHeaders(request, _headers);
            using var response = await _http.SendAsync(request, connection.Token).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                return Down(await UpstreamHttp.DescribeStatusAsync(Name, _options.Url, response, connection.Token).ConfigureAwait(false));
            }

            if (!UpstreamHttp.IsMediaType(response, "text/event-stream"))
            {
                return Down(
                    $"MCP server '{Name}' at {_options.Url} answered the GET with "
                        + $"'{response.Content.Headers.ContentType?.MediaType ?? "no content type"}' instead of an event stream"
                );
            }

            var stream = await response.Content.ReadAsStreamAsync(connection.Token).ConfigureAwait(false);
            await using (stream.ConfigureAwait(false))
            {
                using var events = new SseReader(stream, UpstreamHttp.MaxMessageBytes);
                using (var endpointWait = CancellationTokenSource.CreateLinkedTokenSource(connection.Token))
                {
                    endpointWait.CancelAfter(_options.Timeout);
                    var endpoint = await ReadEndpointAsync(events, endpointWait.Token).ConfigureAwait(false);
                    if (endpoint.Error is { } error)
                    {
                        return Down(error);
                    }

                    _endpoint = endpoint.Url;
                }

                var reader = ReadMessagesAsync(events, connection.Token);
                var handshake = await HandshakeAsync(connection.Token).ConfigureAwait(false);
                if (handshake.IsSuccess)
                {
                    ready = true;
                    HttpLog.Ready(Logger, Name, _options.Url, ProtocolVersion);
                    SetState(UpstreamState.Ready, null);
                    FirstAttemptDone();
                    detail = await reader.ConfigureAwait(false);
                }
                else
                {
                    await connection.CancelAsync().ConfigureAwait(false);
                    await reader.ConfigureAwait(false);
                    detail = handshake.Detail ?? "handshake failed";
                }
            }
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
            detail = "stopped";
        }
        catch (OperationCanceledException)
        {
            detail = $"MCP server '{Name}' at {_options.Url} did not send its endpoint within {_options.Timeout.TotalSeconds:0.###} s";
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or InvalidDataException or ObjectDisposedException)
        {
            detail = UpstreamHttp.Describe(Name, _options.Url, ex).Detail!;
        }

        _endpoint = null;
        FailAllPending(UpstreamError.Disconnected, $"MCP server '{Name}' at {_options.Url} lost its event stream during the call: {detail}");
        if (!_stopping.IsCancellationRequested)
        {
            Down(detail);
        }

        return ready;
    }

    private bool Down(string detail)
    {
        HttpLog.Down(Logger, Name, detail);
        SetState(UpstreamState.Down, detail);
        return false;
    }

    private async Task<(Uri? Url, string? Error)> ReadEndpointAsync(SseReader events, CancellationToken cancellationToken)
    {
        while (await events.ReadEventAsync(cancellationToken).ConfigureAwait(false))
        {
            if (!events.EventType.SequenceEqual("endpoint"u8))
            {
                continue;
            }

            var text = Encoding.UTF8.GetString(events.Data).Trim();
            if (!Uri.TryCreate(_options.Url, text, out var url))
            {
                return (null, $"MCP server '{Name}' at {_options.Url} sent an endpoint that is not a URL: '{text}'");
            }

            // The configured headers (credentials) must not be sent to a place the operator did not configure.
            if (
                !string.Equals(url.Scheme, _options.Url.Scheme, StringComparison.OrdinalIgnoreCase)
                || !string.Equals(url.IdnHost, _options.Url.IdnHost, StringComparison.OrdinalIgnoreCase)
                || url.Port != _options.Url.Port
            )
            {
                return (null, $"MCP server '{Name}' at {_options.Url} sent an endpoint on another origin: {url}");
            }

            return (url, null);
        }

        return (null, $"MCP server '{Name}' at {_options.Url} closed its event stream before sending the endpoint");
    }

    /// <summary>Dispatches every message on the stream; returns why the stream ended.</summary>
    private async Task<string> ReadMessagesAsync(SseReader events, CancellationToken cancellationToken)
    {
        try
        {
            while (await events.ReadEventAsync(cancellationToken).ConfigureAwait(false))
            {
                if (!events.IsMessage || events.Data.IsEmpty)
                {
                    continue;
                }

                if (UpstreamMessage.TryCreate(events.Data, out var error) is { } message)
                {
                    Dispatch(message, null);
                }
                else if (error == JsonRpcParseError.Ambiguous)
                {
                    RefuseAmbiguous(events.Data, null);
                }
                else
                {
                    HttpLog.NotJsonRpc(Logger, Name);
                }
            }

            return $"MCP server '{Name}' at {_options.Url} closed its event stream";
        }
        catch (OperationCanceledException)
        {
            return $"MCP server '{Name}' at {_options.Url}: the event stream was closed";
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or InvalidDataException or ObjectDisposedException)
        {
            return UpstreamHttp.Describe(Name, _options.Url, ex).Detail!;
        }
    }

    protected override async ValueTask<UpstreamCallResult> SendRequestCoreAsync(
        ReadOnlyMemory<byte> request,
        PendingCall call,
        bool idempotent,
        CancellationToken cancellationToken
    ) => await PostAsync(request, cancellationToken).ConfigureAwait(false);

    public override async ValueTask<bool> SendAsync(ReadOnlyMemory<byte> message, CancellationToken cancellationToken)
    {
        var result = await PostAsync(message, cancellationToken).ConfigureAwait(false);
        if (!result.IsSuccess)
        {
            HttpLog.SendFailed(Logger, Name, result.Detail);
        }

        return result.IsSuccess;
    }

    /// <summary>POSTs one message to the endpoint; the answer, if any, arrives on the event stream.</summary>
    private async ValueTask<UpstreamCallResult> PostAsync(ReadOnlyMemory<byte> message, CancellationToken cancellationToken)
    {
        if (_endpoint is not { } endpoint)
        {
            return UpstreamCallResult.Failure(
                UpstreamError.Disconnected,
                $"MCP server '{Name}' at {_options.Url} is not connected: {StateDetail ?? "no event stream"}"
            );
        }

        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, endpoint) { Content = new JsonBodyContent(message) };
            UpstreamHttp.AddHeaders(request, _headers);
            using var response = await _http.SendAsync(request, cancellationToken).ConfigureAwait(false);
            return response.IsSuccessStatusCode
                ? default
                : UpstreamCallResult.Failure(
                    UpstreamError.Protocol,
                    await UpstreamHttp.DescribeStatusAsync(Name, endpoint, response, cancellationToken).ConfigureAwait(false)
                );
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or ObjectDisposedException)
        {
            return UpstreamHttp.Describe(Name, endpoint, ex);
        }
    }

    public override async ValueTask DisposeAsync()
    {
        if (!TryMarkDisposed())
        {
            return;
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        if (Supervisor is { } supervisor)
        {
            try
            {
                await supervisor.WaitAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // It ends once the invoker is disposed below.
            }
        }

        FailAllPending(UpstreamError.Unavailable, $"MCP server '{Name}' was stopped");
        SetState(UpstreamState.Stopped, $"MCP server '{Name}' was stopped");
        FirstAttemptDone();
        _http.Dispose();
        _stopping.Dispose();
    }
}
