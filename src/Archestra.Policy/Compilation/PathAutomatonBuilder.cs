using System.Text;
using Archestra.Policy.Evaluation;

namespace Archestra.Policy.Compilation;

/// <summary>
/// Builds a tool's path automaton: a trie of every key path its rules use, then determinised (subset
/// construction) so that one array element or property name moves the reader's position to exactly one
/// state, however many <c>[*]</c> and <c>[N]</c> paths overlap there.
/// </summary>
internal sealed class PathAutomatonBuilder
{
    private readonly TrieNode _root = new(0);
    private int _nodes = 1;

    public void Add(List<PathSegment> path, int condition)
    {
        var node = _root;
        foreach (var segment in path)
        {
            node = segment.Kind switch
            {
                SegmentKind.Property => Child(node.Properties, segment.Name!),
                SegmentKind.Index => Child(node.Indexes, segment.Index),
                _ => node.AnyIndex ??= new TrieNode(_nodes++),
            };
        }

        node.Conditions.Add(condition);
    }

    /// <param name="trustedRelevant">Per condition: whether it belongs to a rule that can decide in a trusted context.</param>
    public PathState[] Build(bool[] trustedRelevant)
    {
        var sets = new List<TrieNode[]> { new[] { _root } };
        var ids = new Dictionary<string, int>(StringComparer.Ordinal) { [Key(sets[0])] = 0 };
        var states = new List<PathState>();
        for (var s = 0; s < sets.Count; s++)
        {
            var set = sets[s];
            var conditions = new SortedSet<int>();
            var names = new List<string>();
            var indexes = new SortedSet<int>();
            var any = new List<TrieNode>();
            foreach (var node in set)
            {
                conditions.UnionWith(node.Conditions);
                foreach (var name in node.Properties.Keys)
                {
                    if (!names.Contains(name))
                    {
                        names.Add(name);
                    }
                }

                indexes.UnionWith(node.Indexes.Keys);
                if (node.AnyIndex is not null)
                {
                    any.Add(node.AnyIndex);
                }
            }

            var propertyTargets = new int[names.Count];
            for (var i = 0; i < names.Count; i++)
            {
                var children = new List<TrieNode>();
                foreach (var node in set)
                {
                    if (node.Properties.TryGetValue(names[i], out var child))
                    {
                        children.Add(child);
                    }
                }

                propertyTargets[i] = StateOf(children, sets, ids);
            }

            var indexTargets = new int[indexes.Count];
            var k = 0;
            foreach (var index in indexes)
            {
                var children = new List<TrieNode>(any);
                foreach (var node in set)
                {
                    if (node.Indexes.TryGetValue(index, out var child))
                    {
                        children.Add(child);
                    }
                }

                indexTargets[k++] = StateOf(children, sets, ids);
            }

            var propertyNames = new byte[names.Count][];
            for (var i = 0; i < names.Count; i++)
            {
                propertyNames[i] = Encoding.UTF8.GetBytes(names[i]);
            }

            var trusted = new List<int>();
            foreach (var condition in conditions)
            {
                if (trustedRelevant[condition])
                {
                    trusted.Add(condition);
                }
            }

            states.Add(
                new PathState
                {
                    Conditions = [.. conditions],
                    TrustedConditions = [.. trusted],
                    PropertyNames = propertyNames,
                    PropertyTargets = propertyTargets,
                    Indexes = [.. indexes],
                    IndexTargets = indexTargets,
                    AnyIndexTarget = StateOf(any, sets, ids),
                }
            );
        }

        return [.. states];
    }

    private static int StateOf(List<TrieNode> nodes, List<TrieNode[]> sets, Dictionary<string, int> ids)
    {
        if (nodes.Count == 0)
        {
            return -1;
        }

        var set = nodes.ToArray();
        Array.Sort(set, static (a, b) => a.Id.CompareTo(b.Id));
        var key = Key(set);
        if (!ids.TryGetValue(key, out var id))
        {
            id = sets.Count;
            ids[key] = id;
            sets.Add(set);
        }

        return id;
    }

    private static string Key(TrieNode[] set)
    {
        var builder = new StringBuilder();
        foreach (var node in set)
        {
            builder.Append(node.Id).Append(',');
        }

        return builder.ToString();
    }

    private TrieNode Child<TKey>(Dictionary<TKey, TrieNode> children, TKey key)
        where TKey : notnull
    {
        if (!children.TryGetValue(key, out var child))
        {
            child = new TrieNode(_nodes++);
            children[key] = child;
        }

        return child;
    }

    private sealed class TrieNode(int id)
    {
        public int Id { get; } = id;

        public Dictionary<string, TrieNode> Properties { get; } = new(StringComparer.Ordinal);

        public Dictionary<int, TrieNode> Indexes { get; } = [];

        public TrieNode? AnyIndex { get; set; }

        public List<int> Conditions { get; } = [];
    }
}
