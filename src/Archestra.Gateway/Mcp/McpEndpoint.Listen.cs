using System.Buffers;
using Archestra.Runtime.JsonRpc;
using Archestra.Runtime.Protocol;

namespace Archestra.Gateway.Mcp;

/// <summary>
/// <c>subscriptions/listen</c> (2026-07-28 basic/patterns/subscriptions): one long-lived POST whose SSE stream first
/// acknowledges the filter the gateway honours (the three list changes; <c>resourceSubscriptions</c> is not offered and
/// so left out of the acknowledgment), then carries the matching list changes of the profile's servers, each tagged with
/// the request's id. Closing the stream ends the subscription; when the gateway stops, the request is answered.
/// </summary>
internal sealed partial class McpEndpoint
{
    private static readonly TimeSpan ListenKeepAlive = TimeSpan.FromSeconds(15);

    private async Task ListenAsync(HttpContext context, GatewayProfile profile, byte[] body, JsonRpcEnvelope env)
    {
        var rawId = env.Id.Of(body).ToArray();
        var notifications = JsonObjectScan.FindValue(env.Params.Of(body), "notifications"u8).Of(env.Params.Of(body)).ToArray();
        var filter =
            (JsonObjectScan.IsTrue(notifications, "toolsListChanged"u8) ? ListenFilter.Tools : ListenFilter.None)
            | (JsonObjectScan.IsTrue(notifications, "promptsListChanged"u8) ? ListenFilter.Prompts : ListenFilter.None)
            | (JsonObjectScan.IsTrue(notifications, "resourcesListChanged"u8) ? ListenFilter.Resources : ListenFilter.None);
        _gateway.Metrics.RecordRequest(profile.Name, "subscriptions/listen", "ok");
        var resources = await SubscribeResourcesAsync(profile, notifications).ConfigureAwait(false);

        var listener = _gateway.Listeners.Open(profile, rawId, filter, resources);
        var response = context.Response;
        try
        {
            StartEventStream(response, null);
            JsonRpcWriter.WriteSseEvent(
                response.BodyWriter,
                ListenStreams.Tagged("notifications/subscriptions/acknowledged"u8, rawId, Acknowledged(filter, resources.Keys))
            );
            await response.BodyWriter.FlushAsync(context.RequestAborted).ConfigureAwait(false);

            using var stopping = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, _gateway.Listeners.Stopping);
            var reader = listener.Pending.Reader;
            while (!stopping.IsCancellationRequested)
            {
                using var keepAlive = CancellationTokenSource.CreateLinkedTokenSource(stopping.Token);
                keepAlive.CancelAfter(ListenKeepAlive);
                try
                {
                    await reader.WaitToReadAsync(keepAlive.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!stopping.IsCancellationRequested)
                {
                    response.BodyWriter.Write(": keep-alive\n\n"u8);
                    await response.BodyWriter.FlushAsync(stopping.Token).ConfigureAwait(false);
                    continue;
                }

                while (reader.TryRead(out var message))
                {
                    JsonRpcWriter.WriteSseEvent(response.BodyWriter, message);
                }

                await response.BodyWriter.FlushAsync(stopping.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            // The client closed the stream (its way of ending the subscription), or the gateway is stopping.
        }
        finally
        {
            _gateway.Listeners.Close(listener);
            foreach (var (uri, server) in resources)
            {
                if (!_gateway.AnySubscriber(uri, server, except: null))
                {
                    _ = _gateway.SubscribeUpstreamAsync(server, uri, subscribe: false);
                }
            }
        }

        if (!context.RequestAborted.IsCancellationRequested)
        {
            // Graceful closure: the listen request gets its result, tagged like every message on the stream.
            var closing = JsonRpcWriter.Result(rawId, rawId.AsMemory(), static (w, id) =>
            {
                w.WriteStartObject();
                w.WriteString("resultType"u8, "complete"u8);
                w.WriteStartObject("_meta"u8);
                w.WritePropertyName(McpMeta.SubscriptionId);
                w.WriteRawValue(id.Span, skipInputValidation: true);
                w.WriteEndObject();
                w.WriteEndObject();
            });
            JsonRpcWriter.WriteSseEvent(response.BodyWriter, closing);
            await response.BodyWriter.FlushAsync(CancellationToken.None).ConfigureAwait(false);
        }
    }

    /// <summary>At most this many resource subscriptions per listen stream; the rest are left out of the acknowledgment.</summary>
    private const int MaxResourceSubscriptions = 64;

    /// <summary>
    /// The honoured <c>resourceSubscriptions</c>: each URI a server of the profile owns and offers subscriptions for, subscribed
    /// on that server (2025 <c>resources/subscribe</c>, sent once however many clients want the same URI). The rest are left out.
    /// </summary>
    private async Task<Dictionary<string, UpstreamEntry>> SubscribeResourcesAsync(GatewayProfile profile, byte[] notifications)
    {
        var honoured = new Dictionary<string, UpstreamEntry>(StringComparer.Ordinal);
        var list = JsonObjectScan.FindValue(notifications, "resourceSubscriptions"u8);
        if (list.IsEmpty)
        {
            return honoured;
        }

        var uris = new List<string>();
        var reader = new System.Text.Json.Utf8JsonReader(list.Of(notifications));
        try
        {
            while (reader.Read() && uris.Count < MaxResourceSubscriptions)
            {
                if (reader.TokenType == System.Text.Json.JsonTokenType.String && reader.GetString() is { Length: > 0 and <= 4096 } uri)
                {
                    uris.Add(uri);
                }
            }
        }
        catch (System.Text.Json.JsonException)
        {
            // Not an array of strings: nothing is subscribed.
        }

        foreach (var uri in uris)
        {
            if (
                !honoured.ContainsKey(uri)
                && await RouteUriAsync(profile, uri).ConfigureAwait(false) is { IsReady: true, Capabilities.ResourcesSubscribe: true } server
                && (
                    _gateway.AnySubscriber(uri, server, except: null)
                    || await _gateway.SubscribeUpstreamAsync(server, uri, subscribe: true).ConfigureAwait(false)
                )
            )
            {
                honoured[uri] = server;
            }
        }

        return honoured;
    }

    private static byte[] Acknowledged(ListenFilter filter, IEnumerable<string> resources)
    {
        var members = new List<string>(4);
        if ((filter & ListenFilter.Tools) != 0)
        {
            members.Add("\"toolsListChanged\":true");
        }

        if ((filter & ListenFilter.Prompts) != 0)
        {
            members.Add("\"promptsListChanged\":true");
        }

        if ((filter & ListenFilter.Resources) != 0)
        {
            members.Add("\"resourcesListChanged\":true");
        }

        var uris = string.Join(",", resources.Select(uri => "\"" + System.Text.Json.JsonEncodedText.Encode(uri).ToString() + "\""));
        if (uris.Length > 0)
        {
            members.Add("\"resourceSubscriptions\":[" + uris + "]");
        }

        return System.Text.Encoding.UTF8.GetBytes(",\"notifications\":{" + string.Join(",", members) + "}");
    }
}
