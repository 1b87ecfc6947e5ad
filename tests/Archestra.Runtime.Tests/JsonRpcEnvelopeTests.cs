using System.Text;
using Archestra.Runtime.JsonRpc;

namespace Archestra.Runtime.Tests;

public class JsonRpcEnvelopeTests
{
    private static (JsonRpcParseError, JsonRpcEnvelope, byte[]) Parse(string json)
    {
        var bytes = Encoding.UTF8.GetBytes(json);
        var error = JsonRpcEnvelope.TryParse(bytes, out var env);
        return (error, env, bytes);
    }

    private static string Text(byte[] buffer, Slice slice) => Encoding.UTF8.GetString(buffer, slice.Start, slice.Length);

    [Fact]
    public void A_tools_call_request_exposes_id_method_name_arguments_and_progress_token()
    {
        var (error, env, bytes) = Parse(
            """{"jsonrpc":"2.0","id":"a-1","method":"tools/call","params":{"name":"echo","arguments":{"x":[1,2]},"_meta":{"progressToken":7}}}"""
        );
        Assert.Equal(JsonRpcParseError.None, error);
        Assert.Equal(JsonRpcKind.Request, env.Kind);
        Assert.Equal("\"a-1\"", Text(bytes, env.Id));
        Assert.Equal("tools/call", Text(bytes, env.Method));
        Assert.Equal("\"echo\"", Text(bytes, env.ParamsName));
        Assert.Equal("""{"x":[1,2]}""", Text(bytes, env.Arguments));
        Assert.Equal("7", Text(bytes, env.ProgressToken));
    }

    [Theory]
    [InlineData("{", JsonRpcParseError.MalformedJson)]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"x"} trailing""", JsonRpcParseError.MalformedJson)]
    [InlineData("""[{"jsonrpc":"2.0","id":1,"method":"x"}]""", JsonRpcParseError.Batch)]
    [InlineData("""{"jsonrpc":"1.0","id":1,"method":"x"}""", JsonRpcParseError.InvalidMessage)]
    [InlineData("""{"id":1,"method":"x"}""", JsonRpcParseError.InvalidMessage)]
    [InlineData("""{"jsonrpc":"2.0","id":{},"method":"x"}""", JsonRpcParseError.InvalidMessage)]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":5}""", JsonRpcParseError.InvalidMessage)]
    [InlineData("""{"jsonrpc":"2.0","id":null,"method":"x"}""", JsonRpcParseError.InvalidMessage)]
    [InlineData("""{"jsonrpc":"2.0","id":1}""", JsonRpcParseError.InvalidMessage)]
    [InlineData("""{"jsonrpc":"2.0","id":1,"result":{},"error":{"code":1}}""", JsonRpcParseError.InvalidMessage)]
    [InlineData("42", JsonRpcParseError.InvalidMessage)]
    [InlineData("", JsonRpcParseError.MalformedJson)]
    public void Bad_messages_are_classified(string json, JsonRpcParseError expected)
    {
        var (error, _, _) = Parse(json);
        Assert.Equal(expected, error);
    }

    [Fact]
    public void Rewriting_replaces_only_the_given_ranges()
    {
        var (_, env, bytes) = Parse(
            """{"jsonrpc":"2.0","id":"client-9","method":"tools/call","params":{"name":"srv__echo","arguments":{"id":"keep"},"_meta":{"progressToken":"p"}}}"""
        );
        var dest = new byte[bytes.Length + 64];
        var nameStart = env.ParamsName.Start + 1 + "srv__".Length;
        var n = JsonRpcRewriter.Rewrite(
            bytes,
            dest,
            new JsonRpcRewriter.Edit(new Slice(env.ParamsName.Start + 1, nameStart - env.ParamsName.Start - 1), default),
            new JsonRpcRewriter.Edit(env.Id, "42"u8),
            new JsonRpcRewriter.Edit(env.ProgressToken, "42"u8)
        );
        Assert.Equal(
            """{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"echo","arguments":{"id":"keep"},"_meta":{"progressToken":42}}}""",
            Encoding.UTF8.GetString(dest, 0, n)
        );
    }
}
