using System.Text.Json;

namespace Archestra.Gateway.Mcp;

/// <summary>
/// Archestra's own tools, answered by the gateway (never forwarded), trusted and outside policy
/// (<see cref="Archestra.Policy.ProfilePolicies"/> reserves the <c>archestra__</c> prefix): who the caller is to the gateway,
/// what the policies would decide for a call, and a search over the profile's tools for lists too long to show a model.
/// </summary>
internal static class BuiltinTools
{
    public const string Prefix = "archestra__";
    public const string Whoami = Prefix + "whoami";
    public const string Explain = Prefix + "explain";
    public const string SearchTools = Prefix + "search_tools";

    /// <summary>What a search returns without a limit; a model reads every result, so a page stays short.</summary>
    public const int DefaultResults = 10;

    /// <summary>The most a search returns: 50 tool definitions of ~1–2 KB stay well inside a model's context.</summary>
    public const int MaxResults = 50;

    /// <summary>Words a query is cut into at most; more add nothing but work.</summary>
    public const int MaxQueryWords = 16;

    /// <summary>The tools/list entries, in this order, after the servers' tools.</summary>
    public static byte[][] Definitions { get; } =
    [
        Definition(
            Whoami,
            "Archestra: who am I",
            "Tells which Archestra profile this connection uses, whether its context is still trusted and, if not, which tool "
                + "result made it untrusted (after that, tools that could leak data may be refused).",
            "{\"type\":\"object\",\"properties\":{}}"
        ),
        Definition(
            Explain,
            "Archestra: explain a tool call",
            "Tells what Archestra's policies would decide right now for a call of a tool with the given arguments, and why, "
                + "without calling it. Use it before a call you expect to be refused, or to understand a refusal.",
            "{\"type\":\"object\",\"properties\":{\"tool\":{\"type\":\"string\",\"description\":\"The tool name as listed\"},"
                + "\"arguments\":{\"type\":\"object\",\"description\":\"The arguments the call would carry\"}},\"required\":[\"tool\"]}"
        ),
        Definition(
            SearchTools,
            "Archestra: search tools",
            "Finds this profile's tools by words in their names and descriptions, best matches first, with the input schema "
                + "needed to call them. Use it when the tool you need is not in your list.",
            "{\"type\":\"object\",\"properties\":{\"query\":{\"type\":\"string\",\"description\":\"Words to look for\"},"
                + $"\"limit\":{{\"type\":\"integer\",\"minimum\":1,\"maximum\":{MaxResults},"
                + $"\"description\":\"At most this many tools (default {DefaultResults})\"}}}},\"required\":[\"query\"]}}"
        ),
    ];

    public static bool IsBuiltin(ReadOnlySpan<byte> name) => name.StartsWith("archestra__"u8);

    private static byte[] Definition(string name, string title, string description, string inputSchema)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("name"u8, name);
            w.WriteString("title"u8, title);
            w.WriteString("description"u8, description);
            w.WritePropertyName("inputSchema"u8);
            w.WriteRawValue(inputSchema);
            w.WriteStartObject("annotations"u8);
            w.WriteBoolean("readOnlyHint"u8, true);
            w.WriteBoolean("openWorldHint"u8, false);
            w.WriteEndObject();
            w.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>The lower-cased words of a query: runs of letters and digits, at most <see cref="MaxQueryWords"/>.</summary>
    public static string[] Words(string query)
    {
        var words = new List<string>();
        var start = -1;
        for (var i = 0; i <= query.Length && words.Count < MaxQueryWords; i++)
        {
            var inWord = i < query.Length && char.IsLetterOrDigit(query[i]);
            if (inWord && start < 0)
            {
                start = i;
            }
            else if (!inWord && start >= 0)
            {
                var word = query[start..i].ToLowerInvariant();
                if (!words.Contains(word))
                {
                    words.Add(word);
                }

                start = -1;
            }
        }

        return [.. words];
    }

    /// <summary>
    /// How well a tool matches: per word, 3 when its name contains it (4 when a name part, between <c>_</c>, <c>-</c> or <c>.</c>,
    /// starts with it) and 1 when only its description does; 0 when some word is in neither, so every word must match.
    /// </summary>
    public static int Score(SearchEntry entry, string[] words)
    {
        var score = 0;
        foreach (var word in words)
        {
            var at = entry.NameLower.IndexOf(word, StringComparison.Ordinal);
            if (at >= 0)
            {
                score += at == 0 || entry.NameLower[at - 1] is '_' or '-' or '.' ? 4 : 3;
            }
            else if (entry.DescriptionLower.Contains(word, StringComparison.Ordinal))
            {
                score += 1;
            }
            else
            {
                return 0;
            }
        }

        return score;
    }

    /// <summary>The best <paramref name="limit"/> matches, by score and then name; and how many tools matched at all.</summary>
    public static (List<SearchEntry> Best, int Matched) Rank(IEnumerable<SearchEntry> entries, string[] words, int limit)
    {
        // A bounded list kept sorted: a search over 5,000 tools keeps at most `limit` candidates, never sorts them all.
        var best = new List<(int Score, SearchEntry Entry)>(limit + 1);
        var matched = 0;
        foreach (var entry in entries)
        {
            var score = Score(entry, words);
            if (score == 0)
            {
                continue;
            }

            matched++;
            if (best.Count == limit && !Better(score, entry, best[^1]))
            {
                continue;
            }

            var at = best.Count;
            while (at > 0 && Better(score, entry, best[at - 1]))
            {
                at--;
            }

            best.Insert(at, (score, entry));
            if (best.Count > limit)
            {
                best.RemoveAt(best.Count - 1);
            }
        }

        return (best.ConvertAll(static b => b.Entry), matched);
    }

    private static bool Better(int score, SearchEntry entry, (int Score, SearchEntry Entry) other) =>
        score > other.Score || (score == other.Score && string.CompareOrdinal(entry.Name, other.Entry.Name) < 0);
}
