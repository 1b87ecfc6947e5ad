using Archestra.Gateway.Configuration;

namespace Archestra.Gateway.Tests;

/// <summary>Redirects the process-wide Console, so nothing else may run alongside it.</summary>
[CollectionDefinition(nameof(ConsoleCollection), DisableParallelization = true)]
public sealed class ConsoleCollection;

[Collection(nameof(ConsoleCollection))]
public sealed class CliTests : IDisposable
{
    private readonly TextWriter _originalOut = Console.Out;
    private readonly TextWriter _originalError = Console.Error;
    private readonly StringWriter _out = new();
    private readonly StringWriter _error = new();
    private readonly List<string> _files = [];

    public CliTests()
    {
        Console.SetOut(_out);
        Console.SetError(_error);
    }

    public void Dispose()
    {
        Console.SetOut(_originalOut);
        Console.SetError(_originalError);
        foreach (var file in _files)
        {
            File.Delete(file);
        }

        _out.Dispose();
        _error.Dispose();
    }

    private string ConfigFile(string json)
    {
        var path = Path.Combine(Path.GetTempPath(), $"archestra-cli-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, json);
        _files.Add(path);
        return path;
    }

    private const string ValidConfig = """
        {
          "mcpServers": {"a": {"command": "node"}, "b": {"url": "http://127.0.0.1:1/mcp"}},
          "profiles": {"p": {"servers": ["a", "b"]}}
        }
        """;

    [Theory]
    [InlineData("--help")]
    [InlineData("-h")]
    [InlineData("help")]
    public async Task Help_prints_usage_with_commands_options_and_environment_to_stdout(string arg)
    {
        var code = await Cli.RunAsync([arg]);

        Assert.Equal(0, code);
        var text = _out.ToString();
        Assert.StartsWith("archestra ", text, StringComparison.Ordinal);
        Assert.Contains("archestra serve [--config FILE]", text, StringComparison.Ordinal);
        Assert.Contains("archestra check [--config FILE]", text, StringComparison.Ordinal);
        Assert.Contains("--version", text, StringComparison.Ordinal);
        Assert.Contains("ARCHESTRA_CONFIG", text, StringComparison.Ordinal);
        Assert.Empty(_error.ToString());
    }

    [Fact]
    public async Task Version_prints_the_informational_version()
    {
        var code = await Cli.RunAsync(["--version"]);

        Assert.Equal(0, code);
        Assert.Equal($"archestra {GatewayInfo.InformationalVersion}{Environment.NewLine}", _out.ToString());
        Assert.StartsWith("0.1.0", GatewayInfo.InformationalVersion, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new string[0], "archestra: missing command")]
    [InlineData(new[] { "bogus" }, "archestra: unknown command 'bogus'")]
    [InlineData(new[] { "--verbose" }, "archestra: unknown option '--verbose'")]
    [InlineData(new[] { "serve", "--port", "1" }, "archestra: unknown option '--port' for serve")]
    [InlineData(new[] { "check", "extra.json" }, "archestra: unexpected argument 'extra.json' for check")]
    [InlineData(new[] { "check", "--config" }, "archestra: option --config needs a value: --config FILE")]
    [InlineData(new[] { "check", "--config=" }, "archestra: option --config needs a non-empty value")]
    [InlineData(new[] { "check", "--config", "a", "--config", "b" }, "archestra: option --config given more than once")]
    [InlineData(new[] { "--version", "x" }, "archestra: unexpected argument 'x'")]
    public async Task Bad_command_lines_print_the_problem_and_usage_to_stderr_and_exit_2(string[] args, string message)
    {
        var code = await Cli.RunAsync(args);

        Assert.Equal(2, code);
        var error = _error.ToString();
        Assert.StartsWith(message + Environment.NewLine, error, StringComparison.Ordinal);
        Assert.Contains("Usage:", error, StringComparison.Ordinal);
        Assert.Empty(_out.ToString());
    }

    [Fact]
    public async Task Check_reports_counts_for_a_valid_file()
    {
        var path = ConfigFile(ValidConfig);

        var code = await Cli.RunAsync(["check", "--config", path]);

        Assert.Equal(0, code);
        Assert.Equal($"configuration OK: 2 servers, 1 profiles{Environment.NewLine}", _out.ToString());
        Assert.Empty(_error.ToString());
    }

    [Fact]
    public async Task Check_prints_every_error_on_stderr_and_exits_1()
    {
        var path = ConfigFile("""{"mcpServers": {"a": {}}, "profiles": {"p": {"servers": []}}}""");

        var code = await Cli.RunAsync(["check", $"--config={path}"]);

        Assert.Equal(1, code);
        Assert.Equal(
            $"{path}: $.mcpServers.a: expected exactly one of command (a local stdio server) or url (a remote server){Environment.NewLine}"
                + $"{path}: $.profiles.p.servers: expected at least one server name; a profile without servers serves nothing{Environment.NewLine}",
            _error.ToString()
        );
        Assert.Empty(_out.ToString());
    }

    [Fact]
    public async Task Check_of_a_missing_file_exits_1()
    {
        var code = await Cli.RunAsync(["check", "--config", "/nonexistent/archestra.json"]);

        Assert.Equal(1, code);
        Assert.Equal(
            $"/nonexistent/archestra.json: configuration file not found (looked for /nonexistent/archestra.json){Environment.NewLine}",
            _error.ToString()
        );
    }

    [Fact]
    public async Task Serve_without_a_config_is_a_usage_error()
    {
        var code = await Cli.RunAsync(["serve"], _out, _error, _ => null, (_, _) => Task.FromResult(0));

        Assert.Equal(2, code);
        Assert.StartsWith("archestra: serve: no configuration file; pass --config FILE or set ARCHESTRA_CONFIG", _error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Serve_takes_the_file_from_ARCHESTRA_CONFIG_and_returns_the_host_exit_code()
    {
        var path = ConfigFile(ValidConfig);
        GatewayConfig? served = null;

        var code = await Cli.RunAsync(
            ["serve"],
            _out,
            _error,
            name => name == "ARCHESTRA_CONFIG" ? path : null,
            (config, _) =>
            {
                served = config;
                return Task.FromResult(17);
            }
        );

        Assert.Equal(17, code);
        Assert.NotNull(served);
        Assert.Equal(path, served.SourcePath);
        Assert.Equal(2, served.McpServers.Count);
    }

    [Fact]
    public async Task Serve_prefers_the_option_over_the_environment_and_never_starts_on_errors()
    {
        var bad = ConfigFile("""{"nope": 1}""");
        var good = ConfigFile(ValidConfig);
        var started = false;

        var code = await Cli.RunAsync(
            ["serve", "--config", bad],
            _out,
            _error,
            _ => good,
            (_, _) =>
            {
                started = true;
                return Task.FromResult(0);
            }
        );

        Assert.Equal(1, code);
        Assert.False(started);
        Assert.Contains($"{bad}: $.nope: unknown key", _error.ToString(), StringComparison.Ordinal);
    }
}
