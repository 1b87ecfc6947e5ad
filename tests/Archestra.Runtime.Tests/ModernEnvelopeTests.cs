using System.Text;
using System.Text.Json;
using Archestra.Runtime.JsonRpc;
using Archestra.Runtime.Protocol;

namespace Archestra.Runtime.Tests;

/// <summary>The per-request envelope the gateway adds for modern (2026-07-28) servers, and the routing header values.</summary>
public class ModernEnvelopeTests
{
    private static JsonElement Meta(byte[] message) => JsonDocument.Parse(message).RootElement.GetProperty("params").GetProperty("_meta");

    [Theory]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"tools/list"}""")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}""")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":{"a":1}}}""")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","_meta":{"progressToken":7}}}""")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","_meta":{}}}""")]
    public void The_envelope_is_added_wherever_the_request_leaves_room_and_the_rest_is_kept(string request)
    {
        var result = ModernEnvelope.Apply(Encoding.UTF8.GetBytes(request), "archestra", "1.2.3");
        Assert.NotNull(result);
        Assert.Equal(JsonRpcParseError.None, JsonRpcEnvelope.TryParse(result, out var env));
        var meta = Meta(result);
        Assert.Equal("2026-07-28", meta.GetProperty("io.modelcontextprotocol/protocolVersion").GetString());
        Assert.Equal("archestra", meta.GetProperty("io.modelcontextprotocol/clientInfo").GetProperty("name").GetString());
        Assert.Equal(JsonValueKind.Object, meta.GetProperty("io.modelcontextprotocol/clientCapabilities").ValueKind);
        Assert.Equal(request.Contains("progressToken", StringComparison.Ordinal), !env.ProgressToken.IsEmpty);
        if (request.Contains("\"a\":1", StringComparison.Ordinal))
        {
            Assert.Equal("{\"a\":1}", Encoding.UTF8.GetString(env.Arguments.Of(result)));
        }
    }

    [Theory]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"x","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}""")]
    [InlineData("""{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}""")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"result":{}}""")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"x","params":{"_meta":5}}""")]
    public void A_request_that_names_its_revision_and_anything_that_is_not_a_request_is_left_alone(string message)
    {
        Assert.Null(ModernEnvelope.Apply(Encoding.UTF8.GetBytes(message), "archestra", "1"));
    }

    [Fact]
    public void Routing_headers_mirror_method_and_name_and_encode_what_is_not_header_safe()
    {
        var call = Encoding.UTF8.GetBytes("""{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_weather"}}""");
        Assert.Equal(("tools/call", "get_weather"), ModernEnvelope.RoutingHeaders(call));
        var read = Encoding.UTF8.GetBytes("""{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"file:///a b"}}""");
        Assert.Equal(("resources/read", "file:///a b"), ModernEnvelope.RoutingHeaders(read));
        Assert.Equal(
            ("tools/list", (string?)null),
            ModernEnvelope.RoutingHeaders(Encoding.UTF8.GetBytes("""{"jsonrpc":"2.0","id":1,"method":"tools/list"}"""))
        );

        // The spec's examples (transports, "Value Encoding").
        Assert.Equal("us-west1", ModernEnvelope.HeaderValue("us-west1"));
        Assert.Equal("=?base64?SGVsbG8sIOS4lueVjA==?=", ModernEnvelope.HeaderValue("Hello, 世界"));
        Assert.Equal("=?base64?IHBhZGRlZCA=?=", ModernEnvelope.HeaderValue(" padded "));
        Assert.Equal("=?base64?bGluZTEKbGluZTI=?=", ModernEnvelope.HeaderValue("line1\nline2"));
        Assert.Equal("=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?=", ModernEnvelope.HeaderValue("=?base64?literal?="));
    }

    [Fact]
    public void The_envelope_parse_finds_the_modern_meta_fields_of_any_type()
    {
        var json = Encoding.UTF8.GetBytes(
            """{"jsonrpc":"2.0","id":1,"method":"x","params":{"_meta":"""
                + """{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{"a":"""
                + """[1]},"io.modelcontextprotocol/logLevel":"info"}}}"""
        );
        Assert.Equal(JsonRpcParseError.None, JsonRpcEnvelope.TryParse(json, out var env));
        Assert.Equal("\"2026-07-28\"", Encoding.UTF8.GetString(env.MetaProtocolVersion.Of(json)));
        Assert.Equal("{\"a\":[1]}", Encoding.UTF8.GetString(env.MetaClientCapabilities.Of(json)));
        Assert.Equal("\"info\"", Encoding.UTF8.GetString(env.MetaLogLevel.Of(json)));
        Assert.StartsWith("{\"io.", Encoding.UTF8.GetString(env.Meta.Of(json)), StringComparison.Ordinal);

        var notObject = Encoding.UTF8.GetBytes("""{"jsonrpc":"2.0","id":1,"method":"x","params":{"_meta":"v"}}""");
        Assert.Equal(JsonRpcParseError.None, JsonRpcEnvelope.TryParse(notObject, out var env2));
        Assert.Equal("\"v\"", Encoding.UTF8.GetString(env2.Meta.Of(notObject)));
        Assert.True(env2.MetaProtocolVersion.IsEmpty);
    }

    [Fact]
    public void Param_headers_mirror_the_declared_arguments_of_a_tools_call_as_the_header_carries_them()
    {
        ParamHeader[] declared =
        [
            new("Region", "region"u8.ToArray(), Numeric: false),
            new("Count", "count"u8.ToArray(), Numeric: true),
            new("Dry", "dry"u8.ToArray(), Numeric: false),
            new("Absent", "absent"u8.ToArray(), Numeric: false),
            new("Nothing", "nothing"u8.ToArray(), Numeric: false),
            new("Object", "object"u8.ToArray(), Numeric: false),
        ];
        ParamHeader[] Declared(string tool) => tool == "route" ? declared : [];
        var call = Encoding.UTF8.GetBytes(
            """{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"route","arguments":"""
                + """{"region":"Z\u00fcrich","count":42,"dry":true,"nothing":null,"object":{"a":1}}}}"""
        );
        Assert.Equal(
            [("Mcp-Param-Region", "=?base64?WsO8cmljaA==?="), ("Mcp-Param-Count", "42"), ("Mcp-Param-Dry", "true")],
            ModernEnvelope.ParamHeaderValues(call, Declared)
        );

        // Another tool, another method, a notification: nothing to mirror.
        Assert.Null(ModernEnvelope.ParamHeaderValues(Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(call).Replace("\"route\"", "\"other\"")), Declared));
        Assert.Null(ModernEnvelope.ParamHeaderValues("""{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"name":"route"}}"""u8, Declared));
        Assert.Null(ModernEnvelope.ParamHeaderValues("""{"jsonrpc":"2.0","method":"tools/call","params":{"name":"route"}}"""u8, Declared));
    }
}
