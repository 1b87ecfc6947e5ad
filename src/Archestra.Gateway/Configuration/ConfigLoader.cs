using System.Diagnostics.CodeAnalysis;
using System.Text;
using System.Text.Json;
using Archestra.Policy;

namespace Archestra.Gateway.Configuration;

/// <summary>The outcome of loading a configuration file: a config, or every error found in it.</summary>
public sealed record ConfigLoadResult
{
    /// <summary>The validated configuration; null when <see cref="Errors"/> is not empty.</summary>
    public GatewayConfig? Config { get; init; }

    /// <summary>
    /// One line per problem, each naming the source, the JSON path and what was expected, e.g.
    /// <c>archestra.json: $.mcpServers.files.args[1]: expected a string, got a number</c>.
    /// </summary>
    public IReadOnlyList<string> Errors { get; init; } = [];

    [MemberNotNullWhen(true, nameof(Config))]
    public bool Succeeded => Config is not null && Errors.Count == 0;
}

/// <summary>
/// Reads the declarative JSON configuration (format: docs/configuration.md). Start-up only: it favours
/// complete, precise messages over speed, and collects every error instead of stopping at the first.
/// </summary>
public static class ConfigLoader
{
    private static readonly JsonDocumentOptions s_documentOptions = new() { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true };

    /// <summary>Loads and validates the file at <paramref name="path"/>; <paramref name="getEnv"/> resolves <c>env:NAME</c>.</summary>
    public static ConfigLoadResult Load(string path, Func<string, string?> getEnv)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(getEnv);

        if (Directory.Exists(path))
        {
            return Failed($"{path}: is a directory; expected a JSON configuration file");
        }

        if (!File.Exists(path))
        {
            return Failed($"{path}: configuration file not found (looked for {Path.GetFullPath(path)})");
        }

        string json;
        try
        {
            json = File.ReadAllText(path);
        }
        catch (UnauthorizedAccessException)
        {
            return Failed($"{path}: cannot read the configuration file: permission denied");
        }
        catch (IOException e)
        {
            return Failed($"{path}: cannot read the configuration file: {e.Message}");
        }

        return LoadFromJson(json, path, getEnv);
    }

    /// <summary>Validates configuration text; <paramref name="sourceName"/> prefixes every error message.</summary>
    public static ConfigLoadResult LoadFromJson(string json, string sourceName, Func<string, string?> getEnv)
    {
        ArgumentNullException.ThrowIfNull(json);
        ArgumentNullException.ThrowIfNull(sourceName);
        ArgumentNullException.ThrowIfNull(getEnv);

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, s_documentOptions);
        }
        catch (JsonException e)
        {
            return Failed(DescribeSyntaxError(sourceName, json, e));
        }

        using (document)
        {
            var reader = new ConfigReader(sourceName, getEnv);
            var config = reader.Read(document.RootElement);
            if (reader.Errors.Count != 0 || config is null)
            {
                return new ConfigLoadResult { Errors = reader.Errors };
            }

            var compiled = PolicyCompiler.Compile(config.PolicyDefinitions);
            if (!compiled.Succeeded)
            {
                var errors = new List<string>(compiled.Errors.Count);
                foreach (var error in compiled.Errors)
                {
                    errors.Add(DescribePolicyError(sourceName, error, reader.PolicyPaths));
                }

                return new ConfigLoadResult { Errors = errors };
            }

            return new ConfigLoadResult { Config = config with { Policies = compiled.Snapshot! } };
        }
    }

    /// <summary>Places a compiler error at the JSON path of the policy it names, when it names one.</summary>
    private static string DescribePolicyError(string source, PolicyError error, Dictionary<string, string> policyPaths)
    {
        const string prefix = "policy \"";
        var subject = error.Subject;
        if (subject.StartsWith(prefix, StringComparison.Ordinal) && subject.EndsWith('"') && policyPaths.TryGetValue(subject[prefix.Length..^1], out var path))
        {
            var field =
                error.Field.Length == 0 ? ""
                : error.Field[0] == '[' ? error.Field
                : "." + error.Field;
            return $"{source}: {path}{field}: {error.Message} ({subject})";
        }

        return $"{source}: {error}";
    }

    private static ConfigLoadResult Failed(string error) => new() { Errors = [error] };

    /// <summary>
    /// Describes a syntax error from its position alone. The reader's own message is not used: with
    /// UseSystemResourceKeys (set for the AOT binary) it is a bare resource key such as "ZeroDepthAtEnd".
    /// </summary>
    private static string DescribeSyntaxError(string source, string json, JsonException e)
    {
        var line = e.LineNumber ?? 0;
        var column = e.BytePositionInLine ?? 0;
        var utf8 = Encoding.UTF8.GetBytes(json);

        var offset = 0;
        for (var l = 0; l < line && offset < utf8.Length; offset++)
        {
            if (utf8[offset] == (byte)'\n')
            {
                l++;
            }
        }

        var lineStart = offset;
        offset = (int)Math.Min(offset + column, utf8.Length);

        // The reader counts bytes; people and editors count characters.
        var characterColumn = Encoding.UTF8.GetCharCount(utf8, lineStart, offset - lineStart) + 1;
        var rest = utf8.AsSpan(offset);
        string reason;
        if (rest.Trim(" \t\r\n"u8).IsEmpty)
        {
            reason = "unexpected end of input; an object, array or string is not closed";
        }
        else
        {
            Rune.DecodeFromUtf8(rest, out var rune, out _);
            var previous = utf8.AsSpan(0, offset).TrimEnd(" \t\r\n"u8);
            var endsValue =
                !previous.IsEmpty && previous[^1] is (byte)'"' or (byte)'}' or (byte)']' or (byte)'e' or (byte)'l' or (>= (byte)'0' and <= (byte)'9');
            var startsValue =
                rest[0] is (byte)'"' or (byte)'{' or (byte)'[' or (byte)'-' or (byte)'t' or (byte)'f' or (byte)'n' or (>= (byte)'0' and <= (byte)'9');
            reason =
                endsValue && startsValue ? "expected ',' between two values or properties"
                : rune.Value is > 0x20 and < 0x7F ? $"unexpected '{(char)rune.Value}'"
                : $"unexpected character U+{rune.Value:X4}";
        }

        return $"{source}: malformed JSON at line {line + 1}, column {characterColumn}: {reason}";
    }
}
