using System.Text;
using Archestra.Gateway.Configuration;
using Archestra.Gateway.Mcp;
using Archestra.Runtime.JsonRpc;

namespace Archestra.Benchmarks;

/// <summary>
/// The gateway's per-call byte work, reproduced step by step as McpEndpoint.CallToolAsync and
/// ForwardAsync do it (parse, route, tool lookup, rewrite id / name prefix / progress token; then the
/// response id rewrite), over fixed messages and a preallocated destination. The BenchmarkDotNet
/// classes and the allocation-budget check both run these same methods, so the budget guards exactly
/// what the benchmarks report.
/// </summary>
internal sealed class HotPath
{
    /// <summary>The upstream id the gateway would assign; any id of typical width will do.</summary>
    private const long UpstreamId = 1_048_576;

    private readonly byte[] _destination = new byte[64 * 1024];

    public HotPath()
    {
        SmallRequest = Encoding.UTF8.GetBytes(
            """{"jsonrpc":"2.0","id":17,"method":"tools/call","params":{"name":"up__echo","arguments":{"message":"hello"},"_meta":"""
                + """{"progressToken":"tok-17"}}}"""
        );
        LargeRequest = BuildLargeRequest("The quick brown fox jumps over the lazy dog. \\\"quoted\\\" \\u00e9 ");
        LargePlainRequest = BuildLargeRequest("The quick brown fox jumps over the lazy dog. ");
        var keys = new StringBuilder("""{"jsonrpc":"2.0","id":17,"method":"tools/call","params":{"name":"up__echo","arguments":{""");
        for (var i = 0; i < 1000; i++)
        {
            keys.Append(i == 0 ? "" : ",").Append("\"field_").Append(i).Append("\":").Append(i);
        }

        ManyKeysRequest = Encoding.UTF8.GetBytes(keys.Append("}}}").ToString());
        Response = Encoding.UTF8.GetBytes("""{"jsonrpc":"2.0","id":1048576,"result":{"content":[{"type":"text","text":"ok"}],"isError":false}}""");
        ClientId = "\"req-17\""u8.ToArray();
        ModernRequest = Encoding.UTF8.GetBytes(
            """
            {"jsonrpc":"2.0","id":17,"method":"tools/call","params":{"name":"up__echo","arguments":{"message":"hello"},
            "_meta":{"progressToken":"tok-17","io.modelcontextprotocol/protocolVersion":"2026-07-28",
            "io.modelcontextprotocol/clientInfo":{"name":"bench","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}}}
            """
        );
        ModernContext = new Microsoft.AspNetCore.Http.DefaultHttpContext();
        ModernContext.Request.Headers["MCP-Protocol-Version"] = "2026-07-28";
        ModernContext.Request.Headers["Mcp-Method"] = "tools/call";
        ModernContext.Request.Headers["Mcp-Name"] = "up__echo";

        var servers = new[] { new UpstreamEntry("files"), new UpstreamEntry("search"), new UpstreamEntry("up") };
        Profile = new GatewayProfile(new ProfileConfig { Name = "bench", Servers = ["files", "search", "up"] }, servers);
        var tools = new ListItem[32];
        for (var i = 0; i < tools.Length - 1; i++)
        {
            tools[i] = Tool($"tool_{i:D2}");
        }

        tools[^1] = Tool("echo");
        Tools = new ListSnapshot(tools);
    }

    public byte[] SmallRequest { get; }

    /// <summary>A tools/call whose arguments are ~8 KB (a file body with quotes and \u escapes): parsing skips them, rewriting copies them.</summary>
    public byte[] LargeRequest { get; }

    /// <summary>The same size without escapes, to show what escapes cost the reader's validation.</summary>
    public byte[] LargePlainRequest { get; }

    /// <summary>Arguments with 1,000 keys (~14 KB): the strict check's sorted path for large objects.</summary>
    public byte[] ManyKeysRequest { get; }

    /// <summary>An upstream's answer to the forwarded call, still carrying the gateway's upstream id.</summary>
    public byte[] Response { get; }

    /// <summary>The client's original id, as the gateway keeps it for the answer.</summary>
    public byte[] ClientId { get; }

    public GatewayProfile Profile { get; }

    /// <summary>
    /// The same call from an MCP 2026-07-28 client: the <c>_meta</c> envelope in the body, the routing headers in <see
    /// cref="ModernContext"/>.
    /// </summary>
    public byte[] ModernRequest { get; }

    public Microsoft.AspNetCore.Http.DefaultHttpContext ModernContext { get; }

    /// <summary>A 32-tool list with <c>echo</c> in it, as an upstream's cached tools/list.</summary>
    public ListSnapshot Tools { get; }

    public ReadOnlySpan<byte> Written(int length) => _destination.AsSpan(0, length);

    /// <summary>The envelope parse without the strict check (what Parse cost before the check existed).</summary>
    public static int ParseLenient(byte[] request)
    {
        var error = JsonRpcEnvelope.TryParseLenient(request, out var envelope);
        return (int)error + envelope.Id.Length;
    }

    public static int Strict(byte[] request) => (int)StrictJson.Check(request).Error;

    public static int Parse(byte[] request)
    {
        var error = JsonRpcEnvelope.TryParse(request, out var envelope);
        return (int)error + envelope.Id.Length;
    }

    /// <summary>Parse a tools/call, route its name, check the tool exists and write the upstream request. Returns the bytes written.</summary>
    public int ForwardRequest(byte[] request)
    {
        ReadOnlySpan<byte> span = request;
        if (JsonRpcEnvelope.TryParse(span, out var env) != JsonRpcParseError.None)
        {
            return -1;
        }

        var nameSlice = new Slice(env.ParamsName.Start + 1, env.ParamsName.Length - 2);
        var name = nameSlice.Of(span);
        var server = Profile.Route(name, out var offset);
        if (server is null || Tools.Find(name[offset..]) is null)
        {
            return -1;
        }

        Span<byte> idDigits = stackalloc byte[20];
        var idBytes = idDigits[..JsonRpcRewriter.FormatId(UpstreamId, idDigits)];
        var id = new JsonRpcRewriter.Edit(env.Id, idBytes);
        var prefix = new JsonRpcRewriter.Edit(new Slice(nameSlice.Start, offset), default);
        var progress = env.ProgressToken.IsEmpty ? default : new JsonRpcRewriter.Edit(env.ProgressToken, idBytes);
        return JsonRpcRewriter.Rewrite(span, _destination, id, prefix, progress);
    }

    /// <summary>Parse the upstream's answer and write it back with the client's id. Returns the bytes written.</summary>
    public int ForwardResponse()
    {
        ReadOnlySpan<byte> span = Response;
        if (JsonRpcEnvelope.TryParse(span, out var env) != JsonRpcParseError.None)
        {
            return -1;
        }

        return JsonRpcRewriter.Rewrite(span, _destination, new JsonRpcRewriter.Edit(env.Id, ClientId));
    }

    /// <summary>What a modern tools/call adds before routing: the era decision and the validation ladder. 1 when it passes.</summary>
    public int ValidateModern()
    {
        ReadOnlySpan<byte> span = ModernRequest;
        if (JsonRpcEnvelope.TryParse(span, out var env) != JsonRpcParseError.None || !McpEndpoint.IsModern(ModernContext.Request, span, env))
        {
            return -1;
        }

        return ModernValidation.Check(ModernContext.Request, span, env) is null ? 1 : 0;
    }

    /// <summary>The upstream's answer written back to a modern client: the client's id and resultType in one pass.</summary>
    public int ForwardResponseModern()
    {
        ReadOnlySpan<byte> span = Response;
        if (JsonRpcEnvelope.TryParse(span, out var env) != JsonRpcParseError.None)
        {
            return -1;
        }

        var insert = new JsonRpcRewriter.Edit(new Slice(env.Result.Start + 1, 0), ModernResults.Insertion(span, env.Result, cacheable: false));
        return JsonRpcRewriter.Rewrite(span, _destination, new JsonRpcRewriter.Edit(env.Id, ClientId), insert);
    }

    public UpstreamEntry? Route() => Profile.Route("up__echo"u8, out _);

    public ListItem? Find() => Tools.Find("echo"u8);

    private static ListItem Tool(string name) => new(name, Encoding.UTF8.GetBytes($$$"""{"name":"{{{name}}}","inputSchema":{"type":"object"}}"""));

    private static byte[] BuildLargeRequest(string sentence)
    {
        var text = new StringBuilder(8192);
        while (text.Length < 8000)
        {
            text.Append(sentence);
        }

        return Encoding.UTF8.GetBytes(
            """{"jsonrpc":"2.0","id":"call-9f2c","method":"tools/call","params":{"_meta":"""
                + """{"progressToken":42},"name":"up__echo","arguments":"""
                + $$$$"""{"path":"/tmp/notes.txt","content":"{{{{text}}}}","overwrite":true,"tags":["a","b","c"]}}}"""
        );
    }
}
