using System.Text;

namespace Archestra.Policy.Evaluation;

/// <summary>
/// Finds the literal text a pattern anchored with <c>^</c> requires at the start of every match, conservatively:
/// the run of plain or escaped punctuation characters after <c>^</c>, minus a last character a quantifier
/// applies to; nothing when the pattern has a top-level alternation or does not start with <c>^</c>.
/// </summary>
internal static class RegexPrefix
{
    public static byte[] Of(string pattern)
    {
        if (pattern.Length < 2 || pattern[0] != '^' || HasTopLevelAlternation(pattern))
        {
            return [];
        }

        var prefix = new StringBuilder();
        var i = 1;
        while (i < pattern.Length)
        {
            var c = pattern[i];
            if (c == '\\' && i + 1 < pattern.Length && @".\/-^$*+?()[]{}|".Contains(pattern[i + 1], StringComparison.Ordinal))
            {
                prefix.Append(pattern[i + 1]);
                i += 2;
            }
            else if (char.IsAsciiLetterOrDigit(c) || " /_-:@,=<>!%&~'\"#".Contains(c, StringComparison.Ordinal))
            {
                prefix.Append(c);
                i++;
            }
            else
            {
                break;
            }
        }

        if (prefix.Length > 0 && i < pattern.Length && pattern[i] is '?' or '*' or '+' or '{')
        {
            prefix.Length--;
        }

        return Encoding.UTF8.GetBytes(prefix.ToString());
    }

    private static bool HasTopLevelAlternation(string pattern)
    {
        var depth = 0;
        var inClass = false;
        for (var i = 0; i < pattern.Length; i++)
        {
            switch (pattern[i])
            {
                case '\\':
                    i++;
                    break;
                case '[':
                    inClass = true;
                    break;
                case ']':
                    inClass = false;
                    break;
                case '(' when !inClass:
                    depth++;
                    break;
                case ')' when !inClass:
                    depth--;
                    break;
                case '|' when !inClass && depth == 0:
                    return true;
            }
        }

        return false;
    }
}
