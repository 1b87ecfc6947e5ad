using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Archestra.Runtime.Tests.Support;

/// <summary>One request as the fake saw it.</summary>
internal sealed record SeenRequest(string Method, string? RpcMethod, string? RpcId, string? SessionId, string? ProtocolVersion, string Body);

/// <summary>
/// A Streamable HTTP peer on Kestrel for failures a real server won't produce on demand (expired sessions,
/// 503s). It answers initialize itself; everything else goes to <c>handler</c>, which returns null to fall
/// back to the default (202 for notifications, an empty result for requests).
/// </summary>
internal sealed class FakeMcpServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private FakeMcpServer(WebApplication app, Uri url)
    {
        _app = app;
        Url = url;
    }

    public Uri Url { get; }

    public ConcurrentQueue<SeenRequest> Requests { get; } = new();

    public Func<FakeMcpServer, SeenRequest, HttpContext, Task<bool>>? Handler { get; set; }

    /// <summary>Session ids handed out by initialize; when null the server is stateless.</summary>
    public Func<int, string?> SessionIds { get; set; } = n => "session-" + n;

    public int Initializations;

    public static async Task<FakeMcpServer> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(o => o.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        FakeMcpServer? server = null;
        app.Map("/mcp", (HttpContext context) => server!.HandleAsync(context));
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        server = new FakeMcpServer(app, new Uri(address + "/mcp"));
        return server;
    }

    private async Task HandleAsync(HttpContext context)
    {
        var body = await new StreamReader(context.Request.Body).ReadToEndAsync();
        string? rpcMethod = null;
        string? rpcId = null;
        if (body.Length > 0)
        {
            using var doc = JsonDocument.Parse(body);
            if (doc.RootElement.TryGetProperty("method", out var m))
            {
                rpcMethod = m.GetString();
            }

            if (doc.RootElement.TryGetProperty("id", out var id))
            {
                rpcId = id.GetRawText();
            }
        }

        var seen = new SeenRequest(
            context.Request.Method,
            rpcMethod,
            rpcId,
            context.Request.Headers["Mcp-Session-Id"].FirstOrDefault(),
            context.Request.Headers["MCP-Protocol-Version"].FirstOrDefault(),
            body
        );
        Requests.Enqueue(seen);

        if (Handler is { } handler && await handler(this, seen, context))
        {
            return;
        }

        if (context.Request.Method == "GET")
        {
            context.Response.StatusCode = 405;
            return;
        }

        if (context.Request.Method == "DELETE")
        {
            context.Response.StatusCode = 200;
            return;
        }

        if (rpcMethod == "initialize")
        {
            var n = Interlocked.Increment(ref Initializations);
            if (SessionIds(n) is { } session)
            {
                context.Response.Headers["Mcp-Session-Id"] = session;
            }

            await WriteJsonAsync(
                context,
                """{"jsonrpc":"2.0","id":"""
                    + rpcId
                    + ""","result":{"protocolVersion":"2025-11-25","capabilities":{"tools":{}},"serverInfo":{"name":"fake","version":"1.0.0"}}}"""
            );
            return;
        }

        if (rpcId is null)
        {
            context.Response.StatusCode = 202;
            return;
        }

        await WriteJsonAsync(context, """{"jsonrpc":"2.0","id":""" + rpcId + ""","result":{"tools":[],"content":[{"type":"text","text":"ok"}]}}""");
    }

    public static Task WriteJsonAsync(HttpContext context, string json, int status = 200)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        return context.Response.WriteAsync(json);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
