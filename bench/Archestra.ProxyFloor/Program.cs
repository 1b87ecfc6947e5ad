using System.Buffers;
using System.Net;
using System.Net.Http.Headers;

namespace Archestra.ProxyFloor;

/// <summary>
/// The cheapest honest HTTP proxy on the same stack as the gateway (Kestrel in, SocketsHttpHandler
/// out, whole bodies buffered): no JSON, no routing, no policy, no resilience pipeline. Load runs put
/// it next to the gateway so that "gateway vs direct" splits into what any .NET proxy costs on this
/// machine and what the gateway adds on top.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length != 2 || !int.TryParse(args[0], out var port) || !Uri.TryCreate(args[1], UriKind.Absolute, out var upstream))
        {
            Console.Error.WriteLine("usage: Archestra.ProxyFloor PORT UPSTREAM_URL   (forwards POST /mcp to UPSTREAM_URL)");
            return 2;
        }

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.ListenLocalhost(port);
        });
        var app = builder.Build();
        var proxy = new Forwarder(upstream);
        app.Run(proxy.HandleAsync);
        app.Run();
        return 0;
    }
}

internal sealed class Forwarder(Uri upstream)
{
    private static readonly MediaTypeHeaderValue Json = new("application/json");

    private readonly HttpMessageInvoker _http = new(
        new SocketsHttpHandler
        {
            UseProxy = false,
            UseCookies = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
        },
        disposeHandler: true
    );

    public async Task HandleAsync(HttpContext context)
    {
        var length = (int)(context.Request.ContentLength ?? 0);
        var body = ArrayPool<byte>.Shared.Rent(Math.Max(length, 1));
        try
        {
            await context.Request.Body.ReadExactlyAsync(body.AsMemory(0, length), context.RequestAborted);
            using var request = new HttpRequestMessage(HttpMethod.Post, upstream) { Content = new ReadOnlyMemoryContent(body.AsMemory(0, length)) };
            request.Content.Headers.ContentType = Json;
            request.Headers.TryAddWithoutValidation("Accept", "application/json, text/event-stream");
            using var response = await _http.SendAsync(request, context.RequestAborted);
            context.Response.StatusCode = (int)response.StatusCode;
            context.Response.ContentType = response.Content.Headers.ContentType?.ToString();
            context.Response.ContentLength = response.Content.Headers.ContentLength;
            await response.Content.CopyToAsync(context.Response.Body, context.RequestAborted);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(body);
        }
    }
}
