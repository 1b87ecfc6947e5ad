using System.Buffers;
using System.Text;
using Archestra.Runtime.JsonRpc;
using Archestra.Runtime.Protocol;

namespace Archestra.Gateway.Mcp;

// Messages a client sends back on a session (notifications, answers to server requests), the GET stream and DELETE.
internal sealed partial class McpEndpoint
{
    private void HandleClientNotification(McpSession? session, GatewayProfile profile, ReadOnlySpan<byte> span, JsonRpcEnvelope env)
    {
        if (env.MethodIs(span, McpMethods.Cancelled))
        {
            if (session is not null && !env.RequestId.IsEmpty && session.InFlight.TryGetValue(Encoding.UTF8.GetString(env.RequestId.Of(span)), out var cancel))
            {
                try
                {
                    cancel.Cancel();
                }
                catch (ObjectDisposedException)
                {
                    // The call finished in the meantime.
                }
            }
        }
        else if (env.MethodIs(span, McpMethods.RootsListChanged))
        {
            var message = span.ToArray();
            foreach (var server in profile.Servers)
            {
                if (server.IsReady)
                {
                    _ = McpGateway.SendQuietlyAsync(server, message);
                }
            }
        }

        // notifications/initialized and anything else need no action.
    }

    private async Task HandleClientResponseAsync(HttpContext context, McpSession? session, byte[] body, int length, JsonRpcEnvelope env)
    {
        if (session is null)
        {
            await WriteHttpErrorAsync(
                    context,
                    StatusCodes.Status400BadRequest,
                    ErrorCodes.InvalidRequest,
                    "A response to a server request needs the Mcp-Session-Id of the session that received the request."
                )
                .ConfigureAwait(false);
            return;
        }

        var forward = RewriteClientResponse(session, body.AsSpan(0, length), env, out var server);
        context.Response.StatusCode = StatusCodes.Status202Accepted;
        if (forward is not null)
        {
            await McpGateway.SendQuietlyAsync(server!, forward).ConfigureAwait(false);
        }
    }

    private byte[]? RewriteClientResponse(McpSession session, ReadOnlySpan<byte> span, JsonRpcEnvelope env, out UpstreamEntry? server)
    {
        server = null;
        if (!JsonRpcRewriter.TryParseId(env.Id.Of(span), out var gatewayId) || !session.PendingServerRequests.TryRemove(gatewayId, out var pending))
        {
            Log.UnknownServerRequestAnswer(_gateway.Logger, Encoding.UTF8.GetString(env.Id.Of(span)), session.Id);
            return null;
        }

        if (pending.Local is { } local)
        {
            local.TrySetResult(span.ToArray());
            return null;
        }

        server = pending.Server;
        return JsonRpcRewriter.Replace(span, env.Id, pending.UpstreamId!);
    }

    // ---- GET and DELETE ----

    private async Task GetStreamAsync(HttpContext context, GatewayProfile profile)
    {
        if (!AcceptedTypes.Of(context.Request).Sse)
        {
            await WriteHttpErrorAsync(
                    context,
                    StatusCodes.Status406NotAcceptable,
                    ErrorCodes.InvalidRequest,
                    "GET opens the session's event stream: Accept must include text/event-stream."
                )
                .ConfigureAwait(false);
            return;
        }

        var session = FindSession(context, profile, out var missing);
        if (session is null)
        {
            await WriteHttpErrorAsync(
                    context,
                    missing ? StatusCodes.Status400BadRequest : StatusCodes.Status404NotFound,
                    ErrorCodes.InvalidRequest,
                    missing ? "GET needs an Mcp-Session-Id header (from initialize)." : "Session not found or expired."
                )
                .ConfigureAwait(false);
            return;
        }

        if (!session.TryOpenGetStream())
        {
            await WriteHttpErrorAsync(context, StatusCodes.Status409Conflict, ErrorCodes.InvalidRequest, "This session already has 8 open GET streams.")
                .ConfigureAwait(false);
            return;
        }

        try
        {
            var response = context.Response;
            StartEventStream(response, session);
            await response.BodyWriter.FlushAsync(context.RequestAborted).ConfigureAwait(false);

            using var linked = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, session.Lifetime.Token);
            var reader = session.Outbound;
            while (!linked.IsCancellationRequested)
            {
                // A comment line every 15 s keeps proxies and load balancers from closing an idle stream.
                using var keepAlive = CancellationTokenSource.CreateLinkedTokenSource(linked.Token);
                keepAlive.CancelAfter(TimeSpan.FromSeconds(15));
                bool more;
                try
                {
                    more = await reader.WaitToReadAsync(keepAlive.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!linked.IsCancellationRequested)
                {
                    response.BodyWriter.Write(": keep-alive\n\n"u8);
                    await response.BodyWriter.FlushAsync(linked.Token).ConfigureAwait(false);
                    continue;
                }

                if (!more)
                {
                    break;
                }

                while (reader.TryRead(out var message))
                {
                    JsonRpcWriter.WriteSseEvent(response.BodyWriter, message);
                }

                await response.BodyWriter.FlushAsync(linked.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            // Client disconnected or the session ended.
        }
        finally
        {
            session.CloseGetStream();
        }
    }

    private Task DeleteAsync(HttpContext context, GatewayProfile profile)
    {
        var session = FindSession(context, profile, out var missing);
        if (session is null)
        {
            return WriteHttpErrorAsync(
                context,
                missing ? StatusCodes.Status400BadRequest : StatusCodes.Status404NotFound,
                ErrorCodes.InvalidRequest,
                missing ? "DELETE needs an Mcp-Session-Id header." : "Session not found or expired."
            );
        }

        _gateway.Sessions.Remove(session.Id);
        context.Response.StatusCode = StatusCodes.Status200OK;
        return Task.CompletedTask;
    }

    private McpSession? FindSession(HttpContext context, GatewayProfile profile, out bool missing)
    {
        var id = context.Request.Headers[McpHeaders.SessionId].ToString();
        missing = id.Length == 0;
        if (missing)
        {
            return null;
        }

        var session = _gateway.Sessions.Find(id);
        return session is not null && session.Profile.Name == profile.Name ? session : null;
    }
}
