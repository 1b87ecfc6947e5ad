import { encode } from '@toon-format/toon';
import fs from 'node:fs';
const pkg = JSON.parse(fs.readFileSync('node_modules/@toon-format/toon/package.json'));
// Handwritten inputs as JSON text, so the C# side parses exactly the same bytes.
const own = [
  ['empty object', '{}'],
  ['empty array', '[]'],
  ['root string', '"hello world"'],
  ['root empty string', '""'],
  ['root number', '-0.0'],
  ['root null', 'null'],
  ['root bom string', '"\ufeffbom"'],
  ['flat object', '{"id":123,"name":"Ada","active":true,"score":null}'],
  ['nested objects', '{"user":{"id":1,"profile":{"city":"Berlin","tags":[]},"empty":{}},"after":"x"}'],
  ['string quoting', '{"a":"","b":" lead","c":"trail ","d":"true","e":"null","f":"42","g":"-3.5e7","h":"05","i":"+1","j":"a:b","k":"say \\"hi\\"","l":"back\\\\slash","m":"[x]","n":"{y}","o":"line\\nbreak","p":"tab\\there","q":"-dash","r":"#hash","s":"a,b","t":"a|b","u":"ünïcødé 🎉","v":"in side","w":"\\u0001ctl","x":"x#y-z","y":"1.","z":".5"}'],
  ['key quoting', '{"simple_key":1,"dotted.key":2,"_u":3,"with space":4,"dash-key":5,"9lives":6,"":7,"quo\\"te":8,"colon:key":9,"ünï":10}'],
  ['numbers canonical', '{"a":1.0,"b":1.5000,"c":-0,"d":1e6,"e":1E-6,"f":1e-7,"g":123.456,"h":1e21,"i":1.5e21,"j":0.1,"k":100,"l":-12.50,"m":2.5e-3,"n":1e20,"o":0.000001234,"p":9007199254740991}'],
  ['primitive array', '{"tags":["a","b","c"],"nums":[1,2.5,-3],"mixed":[1,"two",true,null,"three four"]}'],
  ['primitive array quoting', '{"items":["a,b","c","","true","1"," x"]}'],
  ['root primitive array', '[1,"a",false]'],
  ['tabular', '{"items":[{"sku":"A1","qty":2,"price":9.99},{"sku":"B2","qty":1,"price":14.5}]}'],
  ['tabular reordered keys', '{"rows":[{"a":1,"b":2},{"b":3,"a":4}]}'],
  ['tabular with nulls and quoting', '{"rows":[{"id":1,"v":null,"s":"x,y"},{"id":2,"v":"ok","s":"true"}]}'],
  ['root tabular', '[{"id":1,"name":"a"},{"id":2,"name":"b"}]'],
  ['tabular nested group', '{"orders":[{"id":1,"customer":{"name":"Ada","country":"UK"},"total":10},{"id":2,"customer":{"country":"FR","name":"Bo"},"total":20.5}]}'],
  ['tabular deep nested group', '[{"a":{"b":{"c":1,"d":2},"e":3},"f":4},{"a":{"b":{"d":5,"c":6},"e":7},"f":8}]'],
  ['non uniform objects', '{"items":[{"id":1,"name":"a"},{"id":2}]}'],
  ['objects with arrays', '{"items":[{"id":1,"tags":["x","y"]},{"id":2,"tags":[]}]}'],
  ['objects with null vs object column', '{"items":[{"id":1,"meta":null},{"id":2,"meta":{"k":1}}]}'],
  ['array with empty object', '{"items":[{"a":1},{}]}'],
  ['array of empty objects', '[{},{}]'],
  ['mixed array', '{"items":[1,"x",{"a":1,"b":[1,2]},[3,4],[],{},[{"q":1}],[[1],[2,3]]]}'],
  ['array of arrays', '{"pairs":[[1,2],[3,4,5],[],["a","b,c"]]}'],
  ['array of arrays with objects', '{"m":[[1],[{"a":1}]]}'],
  ['list item first field tabular', '{"groups":[{"members":[{"id":1,"n":"a"},{"id":2,"n":"b"}],"name":"g1","count":2},{"name":"g2"}]}'],
  ['list item first field keyed', '{"list":[{"byId":{"a":{"x":1,"y":2},"b":{"x":3,"y":4}},"rest":true},"p"]}'],
  ['list item first field forms', '[{"a":[]},{"a":[1,2]},{"a":[{"x":1},{"y":2}]},{"a":{"b":1,"c":{"d":2}}},{"a":{}},{"a":"s","b":{"c":1}},{"a":[[1],[2]]}]'],
  ['keyed tabular', '{"users":{"alice":{"age":30,"city":"Paris"},"bob":{"city":"Rome","age":25}}}'],
  ['keyed tabular root', '{"u1":{"n":"a","v":1},"u2":{"n":"b","v":2}}'],
  ['keyed tabular nested group and quoting', '{"m":{"first key":{"p":{"x":1,"y":"a,b"}},"k2":{"p":{"y":"","x":-1}}}}'],
  ['keyed not eligible single entry', '{"m":{"only":{"a":1}}}'],
  ['keyed not eligible mixed values', '{"m":{"a":{"x":1},"b":2},"n":{"a":{"x":1},"b":{"y":1}},"o":{"a":{"x":[1]},"b":{"x":[2]}}}'],
  ['tool result shape', '{"content":[{"type":"text","text":"Found 2 issues: #12, #15"}],"structuredContent":{"issues":[{"number":12,"title":"Crash on start","labels":["bug","p1"],"state":"open"},{"number":15,"title":"Docs: typo","labels":[],"state":"closed"}],"total":2},"isError":false}'],
  ['weather example', '{"location":{"city":"Berlin","country":"DE","units":"metric"},"alerts":["frost","wind"],"forecast":[{"day":"Mon","temp":{"min":-2,"max":4},"condition":"snow","rainChance":80},{"day":"Tue","temp":{"min":1,"max":7},"condition":"cloudy","rainChance":20}]}'],
  ['duplicate keys last wins first place', '{"a":1,"b":2,"a":3}'],
  ['deep nesting', '{"a":{"b":{"c":{"d":{"e":[{"f":{"g":1}}]}}}}}'],
  ['unicode and emoji', '{"名前":"値","emoji":"😀 ok","items":["é","ß"]}'],
];
const cases = [];
for (const [name, json, options] of own) cases.push({ name, json, ...(options ? { options } : {}), toon: encode(JSON.parse(json), options) });
for (const [name, json, options] of [
  ['pipe delimiter', '{"tags":["a|b","c,d"],"rows":[{"x":"p|q","y":1},{"x":"r","y":2}],"f":"v|w"}', { delimiter: '|' }],
  ['tab delimiter', '{"tags":["a b","c\\td"],"rows":[{"x":"p","y":1},{"x":"r","y":2}],"k":{"a":{"z":1},"b":{"z":2}}}', { delimiter: '\t' }],
  ['indent 4', '{"a":{"b":[{"c":1},{"d":[1,2]}],"e":[{"x":1},{"x":2}]}}', { indentSize: 4 }],
]) cases.push({ name, json, options, toon: encode(JSON.parse(json), options) });
// The spec's own encode fixtures, re-encoded by the reference (inputs serialised as JSON text).
for (const f of fs.readdirSync('fixtures').sort()) {
  const j = JSON.parse(fs.readFileSync('fixtures/' + f));
  for (const t of j.tests) {
    if (t.shouldError) continue;
    const json = JSON.stringify(t.input);
    const toon = encode(JSON.parse(json), t.options);
    cases.push({ name: `spec ${f.replace('.json', '')}: ${t.name}`, json, ...(t.options ? { options: t.options } : {}), toon, specExpected: t.expected === toon ? undefined : t.expected });
  }
}
fs.writeFileSync(process.argv[2], JSON.stringify({ reference: `${pkg.name} ${pkg.version}`, spec: 'toon-format/spec SPEC.md v4.0 (c770bbe)', generatedBy: 'tests/Archestra.Policy.Tests/Llm/toon-cases.mjs', cases }, null, 2) + '\n');
console.log(cases.length, cases.filter(c => c.specExpected !== undefined).length);
