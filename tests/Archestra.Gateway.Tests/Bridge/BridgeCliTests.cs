using Archestra.Gateway.Bridge;
using Archestra.Gateway.Configuration;
using Archestra.Policy;

namespace Archestra.Gateway.Tests.Bridge;

/// <summary><c>archestra bridge</c>'s command line: what reaches the bridge, and a usage error for anything else.</summary>
public sealed class BridgeCliTests
{
    private readonly StringWriter _out = new();
    private readonly StringWriter _error = new();
    private BridgeOptions? _started;

    private Task<int> RunAsync(string[] args, string? sessionKey = null) =>
        Cli.RunAsync(
            args,
            _out,
            _error,
            name => name == "ARCHESTRA_SESSION_KEY" ? sessionKey : null,
            static (_, _) => throw new InvalidOperationException("serve is not expected"),
            (options, _) =>
            {
                _started = options;
                return Task.FromResult(Cli.ExitOk);
            }
        );

    [Fact]
    public async Task Defaults_serve_the_command_and_its_arguments_at_port_8080_under_mcp()
    {
        Assert.Equal(Cli.ExitOk, await RunAsync(["bridge", "--", "npx", "-y", "@modelcontextprotocol/server-memory", "--flag"]));
        Assert.NotNull(_started);
        Assert.Equal("npx", _started.Command);
        Assert.Equal(["-y", "@modelcontextprotocol/server-memory", "--flag"], _started.Args);
        Assert.Equal("http://0.0.0.0:8080", _started.Listen);
        Assert.Equal("/mcp", _started.Path);
        Assert.Equal(TimeSpan.FromSeconds(60), _started.Timeout);
        Assert.Null(_started.SessionKey);
        Assert.Equal(Environment.GetEnvironmentVariable("PATH"), _started.Env["PATH"]);
    }

    [Fact]
    public async Task Options_are_taken_in_both_spellings_and_the_command_may_follow_without_a_separator()
    {
        var key = new string('k', 40);
        Assert.Equal(
            Cli.ExitOk,
            await RunAsync(["bridge", "--listen=http://127.0.0.1:9100", "--path", "/x/mcp", "--timeout", "5", "python3", "-m", "server"], key)
        );
        Assert.NotNull(_started);
        Assert.Equal(("python3", "http://127.0.0.1:9100", "/x/mcp"), (_started.Command, _started.Listen, _started.Path));
        Assert.Equal(["-m", "server"], _started.Args);
        Assert.Equal(TimeSpan.FromSeconds(5), _started.Timeout);
        Assert.Equal(System.Text.Encoding.UTF8.GetBytes(key), _started.SessionKey);
    }

    [Theory]
    [InlineData("no server command", "bridge")]
    [InlineData("no server command", "bridge", "--")]
    [InlineData("--listen takes http://HOST:PORT", "bridge", "--listen", "https://0.0.0.0:1", "--", "x")]
    [InlineData("--listen takes http://HOST:PORT", "bridge", "--listen", "http://0.0.0.0:1/mcp", "--", "x")]
    [InlineData("--path takes an absolute path", "bridge", "--path", "mcp", "--", "x")]
    [InlineData("--timeout takes whole seconds", "bridge", "--timeout", "0", "--", "x")]
    [InlineData("--timeout takes whole seconds", "bridge", "--timeout", "1.5", "--", "x")]
    [InlineData("unknown option '--port'", "bridge", "--port", "1", "--", "x")]
    [InlineData("option --listen needs a value", "bridge", "--listen")]
    public async Task Bad_command_lines_are_usage_errors_that_say_what_is_wrong(string message, params string[] args)
    {
        Assert.Equal(Cli.ExitUsage, await RunAsync(args));
        Assert.Null(_started);
        Assert.Contains(message, _error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_short_session_key_is_refused()
    {
        Assert.Equal(Cli.ExitUsage, await RunAsync(["bridge", "--", "x"], "short"));
        Assert.Contains("at least 32 characters", _error.ToString(), StringComparison.Ordinal);
        Assert.Null(_started);
    }

    [Fact]
    public void The_bridge_config_is_one_unprefixed_server_without_tokens_or_policies_that_trusts_every_result()
    {
        var config = BridgeServer.ConfigFor(
            new BridgeOptions
            {
                Command = "node",
                Args = ["s.js"],
                Listen = "http://127.0.0.1:1",
            }
        );
        var server = Assert.Single(config.McpServers);
        Assert.Equal((McpServerKind.Stdio, "node"), (server.Kind, server.Command));
        var profile = Assert.Single(config.Profiles);
        Assert.Equal([server.Name], profile.Servers);
        Assert.Empty(profile.TokenHashes);
        Assert.Equal(ToolPrefixMode.Multiplex, profile.ToolPrefix);
        Assert.Empty(config.PolicyDefinitions.ToolInvocation);
        Assert.Empty(config.PolicyDefinitions.TrustedData);
        var everyTool = Assert.Single(profile.Tools);
        Assert.Equal("*", everyTool.Key);
        Assert.Equal(ResultTreatment.Trusted, everyTool.Value.ResultTreatment);
        Assert.True(everyTool.Value.AllowUsageWhenUntrustedDataIsPresent);
    }
}
