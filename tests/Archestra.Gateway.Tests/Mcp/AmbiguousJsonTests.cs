using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Archestra.Gateway.Configuration;
using Archestra.Gateway.Tests.Infrastructure;

namespace Archestra.Gateway.Tests.Mcp;

/// <summary>A raw stdio server behind a profile with a block_always policy on <c>raw__run</c> when <c>cmd</c> contains "rm".</summary>
public sealed class RawServerFixture : IAsyncLifetime
{
    private readonly string _directory = Directory.CreateTempSubdirectory("archestra-ambiguous-").FullName;

    internal GatewayHarness Gateway { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        var path = Path.Combine(_directory, "archestra.json");
        await File.WriteAllTextAsync(
            path,
            $$"""
            {
              "mcpServers": { "raw": { "command": {{JsonSerializer.Serialize(Repo.Node)}}, "args": [{{JsonSerializer.Serialize(
                Repo.Asset("raw-server.mjs")
            )}}] } },
              "profiles": { "p": { "servers": ["raw"], "toolPrefix": "always" } },
              "policies": {
                "toolInvocation": [
                  { "id": "no-rm", "tool": "raw__run", "action": "block_always",
                    "conditions": [{ "key": "cmd", "operator": "contains", "value": "rm" }], "reason": "no deleting" }
                ]
              }
            }
            """
        );
        var loaded = ConfigLoader.Load(path, Environment.GetEnvironmentVariable);
        Assert.True(loaded.Succeeded, string.Join("\n", loaded.Errors));
        Gateway = await GatewayHarness.StartAsync(loaded.Config!);
    }

    public async ValueTask DisposeAsync()
    {
        await Gateway.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }
}

/// <summary>
/// What the gateway decides on is exactly what the server can read: a message that JSON parsers may read in two
/// ways (a repeated key, invalid UTF-8, a lone surrogate) is refused at the gateway with -32700 and never reaches
/// the server, whichever copy of a key the server's parser would keep; a server that answers that way gets -32012.
/// </summary>
public sealed class AmbiguousJsonTests : IClassFixture<RawServerFixture>
{
    private static readonly HttpClient Http = new();
    private readonly RawServerFixture _fixture;

    public AmbiguousJsonTests(RawServerFixture fixture)
    {
        _fixture = fixture;
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private Uri Url => _fixture.Gateway.McpUrl("p");

    private async Task<(HttpStatusCode Status, JsonElement Message)> PostAsync(byte[] body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, Url) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse("application/json");
        request.Headers.TryAddWithoutValidation("Accept", "application/json, text/event-stream");
        using var response = await Http.SendAsync(request, Ct);
        return (response.StatusCode, await RawMcp.ReadMessageAsync(response));
    }

    private Task<(HttpStatusCode Status, JsonElement Message)> PostAsync(string body) => PostAsync(Encoding.UTF8.GetBytes(body));

    /// <summary>The tools/call lines the server has received, as it received them.</summary>
    private async Task<string[]> SeenByServerAsync()
    {
        var (status, message) = await PostAsync(RawMcp.Call(900, "raw__seen"));
        Assert.Equal(HttpStatusCode.OK, status);
        var text = message.GetProperty("result").GetProperty("content")[0].GetProperty("text").GetString()!;
        return JsonSerializer.Deserialize<string[]>(text)!;
    }

    private static string Call(string paramsMembers) => """{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{""" + paramsMembers + "}}";

    [Fact]
    public async Task The_policy_is_live_a_plain_rm_is_blocked_and_a_plain_ls_runs()
    {
        var (_, blocked) = await PostAsync(RawMcp.Call(1, "raw__run", """{"cmd":"rm -rf /"}"""));
        Assert.True(blocked.GetRawText().Contains("blocked by policy no-rm", StringComparison.Ordinal), blocked.GetRawText());
        var (_, ran) = await PostAsync(RawMcp.Call(2, "raw__run", """{"cmd":"ls"}"""));
        Assert.Equal("ran ls", ran.GetProperty("result").GetProperty("content")[0].GetProperty("text").GetString());
    }

    [Theory]
    [InlineData(
        """
            "name":"raw__run","arguments":{"cmd":"rm -rf / #1"},"arguments":{"cmd":"ls"}
            """,
        "the key \"arguments\" appears twice in the object at $.params"
    )]
    [InlineData(
        """
            "name":"raw__run","name":"raw__seen","arguments":{"cmd":"rm -rf / #2"}
            """,
        "the key \"name\" appears twice in the object at $.params"
    )]
    [InlineData(
        """
            "name":"raw__run","arguments":{"cmd":"rm -rf / #3","cmd":"ls"}
            """,
        "the key \"cmd\" appears twice in the object at $.params.arguments"
    )]
    [InlineData(
        """
            "name":"raw__run","arguments":{"c\u006dd":"rm -rf / #4","cmd":"ls"}
            """,
        "the key \"cmd\" appears twice in the object at $.params.arguments"
    )]
    [InlineData(
        """
            "name":"raw__run","arguments":{"cmd":"ls","opts":[{"f":"rm -rf / #5"},{"f":1,"f":2}]}
            """,
        "the key \"f\" appears twice in the object at $.params.arguments.opts[1]"
    )]
    public async Task A_repeated_key_anywhere_is_refused_with_a_parse_error_and_never_reaches_the_server(string members, string why)
    {
        var (status, message) = await PostAsync(Call(members));
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal(-32700, RawMcp.ErrorCode(message));
        Assert.Contains(why, RawMcp.ErrorMessage(message), StringComparison.Ordinal);

        Assert.DoesNotContain(await SeenByServerAsync(), line => line.Contains("rm -rf", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_repeated_top_level_id_or_method_is_refused_too()
    {
        var (status, message) = await PostAsync("""{"jsonrpc":"2.0","id":1,"id":2,"method":"tools/list"}""");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal(-32700, RawMcp.ErrorCode(message));
        Assert.Contains("the key \"id\" appears twice in the object at $;", RawMcp.ErrorMessage(message), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Invalid_utf8_in_the_arguments_is_refused_at_the_gateway_not_blamed_on_the_server()
    {
        var head = Encoding.UTF8.GetBytes("""{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"raw__run","arguments":{"cmd":"rm""");
        var tail = Encoding.UTF8.GetBytes("""-rf / #utf8"}}}""");
        var (status, message) = await PostAsync([.. head, 0xC0, 0xAF, .. tail]);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal(-32700, RawMcp.ErrorCode(message));
        Assert.Contains($"not valid UTF-8 (or escapes a lone surrogate) at byte {head.Length}", RawMcp.ErrorMessage(message), StringComparison.Ordinal);
        Assert.DoesNotContain(await SeenByServerAsync(), line => line.Contains("#utf8", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_lone_surrogate_escape_is_refused()
    {
        var (status, message) = await PostAsync(RawMcp.Call(4, "raw__run", """{"cmd":"\ud800 #surrogate"}"""));
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal(-32700, RawMcp.ErrorCode(message));
        Assert.DoesNotContain(await SeenByServerAsync(), line => line.Contains("#surrogate", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("raw__dup", "appears twice in the object at $")]
    [InlineData("raw__badutf8", "not valid UTF-8")]
    public async Task A_server_answer_that_parsers_could_read_two_ways_fails_the_call_at_once_with_a_protocol_error(string tool, string why)
    {
        // Without the refusal path the answer is dropped and the call ends only at the server timeout, with a
        // timeout error (-32001), not -32012.
        var (status, message) = await PostAsync(RawMcp.Call(5, tool));
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(5, message.GetProperty("id").GetInt32());
        Assert.Equal(-32012, RawMcp.ErrorCode(message));
        var text = RawMcp.ErrorMessage(message);
        Assert.Contains(why, text, StringComparison.Ordinal);
        Assert.DoesNotContain("SECRET-TOKEN", message.GetRawText(), StringComparison.Ordinal);

        var (_, ran) = await PostAsync(RawMcp.Call(6, "raw__run", """{"cmd":"still serving"}"""));
        Assert.Equal("ran still serving", ran.GetProperty("result").GetProperty("content")[0].GetProperty("text").GetString());
    }
}
