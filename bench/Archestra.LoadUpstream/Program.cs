using System.Buffers;
using System.IO.Pipelines;
using System.Text.Json;

namespace Archestra.LoadUpstream;

/// <summary>
/// The fastest Streamable HTTP MCP server we can write, so that load runs measure the gateway and
/// not the upstream: one terminal middleware, one Utf8JsonReader pass to find the id and method,
/// canned answers written straight into the response pipe. Stateless: it hands out a session id
/// on initialize and ignores it afterwards. It also answers OpenAI chat completions (see <see cref="ChatCompletions"/>).
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length != 1 || !int.TryParse(args[0], out var port))
        {
            Console.Error.WriteLine(
                "usage: Archestra.LoadUpstream PORT   (serves MCP at http://127.0.0.1:PORT/mcp and an OpenAI chat completions API at http://127.0.0.1:PORT/v1)"
            );
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
        app.Run(McpHandler.HandleAsync);
        app.Run();
        return 0;
    }
}

internal static class McpHandler
{
    private const string SessionId = "load-upstream-session";

    private static ReadOnlySpan<byte> Head => """{"jsonrpc":"2.0","id":"""u8;
    private static ReadOnlySpan<byte> CallResult => ""","result":{"content":[{"type":"text","text":"ok"}]}}"""u8;
    private static ReadOnlySpan<byte> ListResult =>
        ""","result":{"tools":[{"name":"echo","description":"Answers ok.","inputSchema":{"type":"object","properties":{"message":{"type":"string"}}}}]}}"""u8;
    private static ReadOnlySpan<byte> EmptyResult => ""","result":{}}"""u8;
    private static ReadOnlySpan<byte> InitializeHead => ""","result":{"protocolVersion":"""u8;
    private static ReadOnlySpan<byte> InitializeTail =>
        ""","capabilities":{"tools":{}},"serverInfo":{"name":"archestra-load-upstream","version":"1.0.0"}}}"""u8;
    private static ReadOnlySpan<byte> DefaultVersion => "\"2025-06-18\""u8;
    private static ReadOnlySpan<byte> NotFound => ""","error":{"code":-32601,"message":"Method not found"}}"""u8;

    public static Task HandleAsync(HttpContext context)
    {
        var request = context.Request;
        if (request.Path.Equals("/v1/chat/completions", StringComparison.Ordinal) && HttpMethods.IsPost(request.Method))
        {
            return ChatCompletions.PostAsync(context);
        }

        if (request.Path.Equals("/v1/messages", StringComparison.Ordinal) && HttpMethods.IsPost(request.Method))
        {
            return Messages.PostAsync(context);
        }

        if (!request.Path.Equals("/mcp", StringComparison.Ordinal))
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return Task.CompletedTask;
        }

        if (HttpMethods.IsPost(request.Method))
        {
            return PostAsync(context);
        }

        // No standalone SSE stream and nothing to delete: both are optional in the spec.
        context.Response.StatusCode = HttpMethods.IsDelete(request.Method) ? StatusCodes.Status200OK : StatusCodes.Status405MethodNotAllowed;
        return Task.CompletedTask;
    }

    private static async Task PostAsync(HttpContext context)
    {
        var reader = context.Request.BodyReader;
        ReadResult read;
        while (true)
        {
            read = await reader.ReadAsync(context.RequestAborted);
            if (read.IsCompleted || read.IsCanceled)
            {
                break;
            }

            reader.AdvanceTo(read.Buffer.Start, read.Buffer.End);
        }

        var body = read.Buffer;
        byte[]? rented = null;
        ReadOnlySpan<byte> json;
        if (body.IsSingleSegment)
        {
            json = body.FirstSpan;
        }
        else
        {
            rented = ArrayPool<byte>.Shared.Rent((int)body.Length);
            body.CopyTo(rented);
            json = rented.AsSpan(0, (int)body.Length);
        }

        try
        {
            Respond(context.Response, json);
        }
        finally
        {
            reader.AdvanceTo(body.End);
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }

        await context.Response.BodyWriter.FlushAsync(context.RequestAborted);
    }

    private static void Respond(HttpResponse response, ReadOnlySpan<byte> json)
    {
        if (!Message.TryRead(json, out var message))
        {
            response.StatusCode = StatusCodes.Status400BadRequest;
            return;
        }

        if (message.Id.IsEmpty)
        {
            response.StatusCode = StatusCodes.Status202Accepted;
            response.ContentLength = 0;
            return;
        }

        var id = json.Slice(message.Id.Start, message.Id.Length);
        var method = json.Slice(message.Method.Start, message.Method.Length);
        ReadOnlySpan<byte> first;
        ReadOnlySpan<byte> second = default;
        ReadOnlySpan<byte> third = default;
        if (method.SequenceEqual("tools/call"u8))
        {
            first = CallResult;
        }
        else if (method.SequenceEqual("tools/list"u8))
        {
            first = ListResult;
        }
        else if (method.SequenceEqual("initialize"u8))
        {
            first = InitializeHead;
            second = message.Version.IsEmpty ? DefaultVersion : json.Slice(message.Version.Start, message.Version.Length);
            third = InitializeTail;
            response.Headers["Mcp-Session-Id"] = SessionId;
        }
        else if (method.SequenceEqual("ping"u8))
        {
            first = EmptyResult;
        }
        else
        {
            first = NotFound;
        }

        var length = Head.Length + id.Length + first.Length + second.Length + third.Length;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "application/json";
        response.ContentLength = length;
        var writer = response.BodyWriter;
        var span = writer.GetSpan(length);
        var n = 0;
        Append(span, ref n, Head);
        Append(span, ref n, id);
        Append(span, ref n, first);
        Append(span, ref n, second);
        Append(span, ref n, third);
        writer.Advance(n);
    }

    private static void Append(Span<byte> destination, ref int written, ReadOnlySpan<byte> value)
    {
        value.CopyTo(destination[written..]);
        written += value.Length;
    }
}

/// <summary>Byte ranges of the fields this server answers on: the raw id, the method, and params.protocolVersion (raw, with quotes).</summary>
internal readonly record struct Range(int Start, int Length)
{
    public bool IsEmpty => Length == 0;
}

internal readonly record struct Message(Range Id, Range Method, Range Version)
{
    public static bool TryRead(ReadOnlySpan<byte> json, out Message message)
    {
        message = default;
        Range id = default,
            method = default,
            version = default;
        var reader = new Utf8JsonReader(json);
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return false;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("id"u8))
                {
                    reader.Read();
                    id = Raw(ref reader);
                }
                else if (reader.ValueTextEquals("method"u8))
                {
                    reader.Read();
                    method = new Range((int)reader.TokenStartIndex + 1, reader.ValueSpan.Length);
                }
                else if (reader.ValueTextEquals("params"u8))
                {
                    reader.Read();
                    version = FindVersion(ref reader);
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }
        }
        catch (JsonException)
        {
            return false;
        }

        message = new Message(id, method, version);
        return true;
    }

    private static Range FindVersion(ref Utf8JsonReader reader)
    {
        Range version = default;
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            reader.Skip();
            return version;
        }

        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var isVersion = reader.ValueTextEquals("protocolVersion"u8);
            reader.Read();
            if (isVersion && reader.TokenType == JsonTokenType.String)
            {
                version = Raw(ref reader);
            }
            else
            {
                reader.Skip();
            }
        }

        return version;
    }

    private static Range Raw(ref Utf8JsonReader reader)
    {
        var start = (int)reader.TokenStartIndex;
        return new Range(start, (int)reader.BytesConsumed - start);
    }
}
