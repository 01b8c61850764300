// Conformance of huddle's Jinja interpreter with @huggingface/jinja.
//
// For every chat template in the shared data folder and every conversation
// below (with add_generation_prompt on and off), the npm package renders
// the context with Template(...).render(ctx) and huddle renders it with
// `huddle chat-template FILE` (context JSON on stdin); the outputs must be
// equal byte for byte, and where the package throws, huddle must fail with
// exit status 1 and a message. A second suite does the same for small
// templates that exercise the language's corners one at a time.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Template } from "@huggingface/jinja";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const BIN = process.env.HUDDLE_BIN || path.join(root, "build/huddle");
const TEMPLATE_DIRS = [
  process.env.HUDDLE_CHAT_TEMPLATES,
  process.env.HUDDLE_SHARED_DATA && path.join(process.env.HUDDLE_SHARED_DATA, "chat-templates"),
  path.resolve(root, "../shared/data/chat-templates"),
  "/work/shared/data/chat-templates",
].filter(Boolean);
const TEMPLATE_DIR = TEMPLATE_DIRS.find((d) => existsSync(d));

function jsRender(source, ctx) {
  try {
    return { ok: true, text: new Template(source).render(structuredClone(ctx)) };
  } catch (e) {
    return { ok: false, error: String(e && e.message) };
  }
}

function huddleRender(args, ctx) {
  const r = spawnSync(BIN, ["chat-template", ...args], {
    input: JSON.stringify(ctx),
    maxBuffer: 64 << 20,
    encoding: "utf8",
  });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function assertSame(js, h, label) {
  if (js.ok) {
    assert.equal(h.status, 0, `${label}: huddle failed where @huggingface/jinja renders: ${h.stderr}`);
    // Compare what goes over the wire: the UTF-8 bytes (a lone surrogate
    // in a JavaScript string is written as U+FFFD, as huddle makes it).
    assert.equal(h.stdout, Buffer.from(js.text, "utf8").toString("utf8"), `${label}: output differs`);
  } else {
    assert.equal(h.status, 1, `${label}: @huggingface/jinja throws (${js.error}) but huddle exits ${h.status} with ${JSON.stringify(h.stdout.slice(0, 200))}`);
    assert.match(h.stderr, /^huddle chat-template: .+/, `${label}: no error message`);
  }
}

// ---- conversations ----------------------------------------------------------

const tools = [
  {
    type: "function",
    function: {
      name: "get_weather",
      description: "Get the current weather in a city. Use \"metric\" units unless told otherwise.",
      parameters: {
        type: "object",
        properties: {
          city: { type: "string", description: "City name, e.g. Zürich" },
          unit: { type: "string", enum: ["celsius", "fahrenheit"], description: "Temperature unit" },
          days: { type: "integer", description: "Forecast days", default: 1 },
        },
        required: ["city"],
      },
    },
  },
  {
    type: "function",
    function: {
      name: "search",
      description: "Search the web.\nReturns the top results.",
      parameters: {
        type: "object",
        properties: {
          query: { type: "string" },
          max_results: { type: ["integer", "null"], description: "How many" },
          filters: {
            type: "object",
            properties: { site: { type: "string" }, recent: { type: "boolean" } },
          },
          tags: { type: "array", items: { type: "string" } },
        },
        required: ["query"],
      },
    },
  },
];

const simpleTools = [
  {
    type: "function",
    function: {
      name: "lookup",
      description: "Look something up.",
      parameters: {
        type: "object",
        properties: { query: { type: "string", description: "What to look up" }, limit: { type: "integer" }, exact: { type: "boolean" } },
        required: ["query"],
      },
    },
  },
];

const sys = { role: "system", content: "You are a helpful assistant." };
const u1 = { role: "user", content: "Hello! What can you do?" };
const a1 = { role: "assistant", content: "I can answer questions and help with tasks." };
const u2 = { role: "user", content: "Tell me a joke about C programmers." };
const a2 = { role: "assistant", content: "Why do C programmers wear glasses? Because they can't C#." };
const u3 = { role: "user", content: "Another one, please." };

const toolCallMsg = {
  role: "assistant",
  content: "",
  tool_calls: [
    {
      id: "call12345",
      type: "function",
      function: { name: "get_weather", arguments: { city: "Paris", unit: "celsius" } },
    },
  ],
};
const toolResult = { role: "tool", tool_call_id: "call12345", name: "get_weather", content: "{\"temperature\": 21, \"sky\": \"clear\"}" };

const conversations = {
  system_user: { messages: [sys, u1] },
  user_only: { messages: [u1] },
  user_assistant: { messages: [u1, a1] },
  multi_turn: { messages: [sys, u1, a1, u2, a2, u3] },
  multi_turn_no_system: { messages: [u1, a1, u2, a2, u3, { role: "assistant", content: "Sure: ..." }] },
  tools: { messages: [sys, { role: "user", content: "What's the weather in Paris?" }], tools },
  tools_no_system: { messages: [{ role: "user", content: "Weather in Oslo?" }], tools },
  tool_calls: {
    messages: [
      { role: "user", content: "What's the weather in Paris?" },
      toolCallMsg,
      toolResult,
      { role: "assistant", content: "It is 21 °C and clear in Paris." },
      { role: "user", content: "Thanks!" },
    ],
    tools,
  },
  tool_calls_string_args: {
    messages: [
      sys,
      { role: "user", content: "Weather in Rome and news about it?" },
      {
        role: "assistant",
        content: null,
        tool_calls: [
          { id: "call00001", type: "function", function: { name: "get_weather", arguments: "{\"city\": \"Rome\"}" } },
          { id: "call00002", type: "function", function: { name: "search", arguments: "{\"query\": \"Rome news\", \"max_results\": 3}" } },
        ],
      },
      { role: "tool", tool_call_id: "call00001", name: "get_weather", content: "sunny, 25C" },
      { role: "tool", tool_call_id: "call00002", name: "search", content: "1. Rome news today" },
    ],
    tools,
  },
  content_parts: {
    messages: [
      sys,
      {
        role: "user",
        content: [
          { type: "text", text: "Describe this picture." },
          { type: "image" },
          { type: "text", text: "Be brief." },
        ],
      },
    ],
  },
  content_parts_text_only: {
    messages: [
      { role: "system", content: [{ type: "text", text: "Be terse." }] },
      { role: "user", content: [{ type: "text", text: "Hi" }] },
      { role: "assistant", content: [{ type: "text", text: "Hello." }] },
      { role: "user", content: [{ type: "text", text: "Bye" }] },
    ],
  },
  bad_role_order: { messages: [u1, { role: "user", content: "Are you there?" }] },
  assistant_first: { messages: [a1, u1] },
  reasoning: {
    messages: [
      u1,
      { role: "assistant", content: "<think>\nThe user greets me.\n</think>\n\nHi! I can chat." },
      u2,
      { role: "assistant", content: "A joke.", reasoning_content: "Think of a joke." },
      u3,
    ],
  },
  unicode: {
    messages: [
      { role: "system", content: "Réponds en français. 日本語も OK. Emoji: 😀🎉" },
      { role: "user", content: "Quote \"this\" and 'that'\\ back\tslash\nnew line\u2028sep \u0007bell" },
      { role: "assistant", content: "  padded answer with trailing spaces   \n\n" },
      { role: "user", content: "   " },
    ],
    tools: [
      {
        type: "function",
        function: {
          name: "traduire",
          description: "Traduit un texte — «avec» des caractères spéciaux 😀",
          parameters: { type: "object", properties: { texte: { type: "string", description: "Le texte à traduire" } }, required: ["texte"] },
        },
      },
    ],
  },
  thinking_off: { messages: [sys, u1, a1, u2], enable_thinking: false },
  // Schemas with plain types only: the Hermes and Command-R templates index
  // a map by the schema's type, which @huggingface/jinja refuses for unions.
  simple_tools: { messages: [sys, { role: "user", content: "Find Rust tutorials." }], tools: simpleTools },
  simple_tool_calls: {
    messages: [
      { role: "user", content: "Find Rust tutorials." },
      { role: "assistant", content: "", tool_calls: [{ id: "call54321", type: "function", function: { name: "lookup", arguments: { query: "rust tutorial", limit: 3 } } }] },
      { role: "tool", tool_call_id: "call54321", name: "lookup", content: "The Rust Book" },
      { role: "assistant", content: "Try The Rust Book." },
    ],
    tools: simpleTools,
  },
  // Command-R's older tool format.
  cohere_tools: {
    messages: [{ role: "user", content: "Search for huddle." }],
    tools: [{ name: "internet_search", description: "Returns a list of relevant document snippets", parameter_definitions: { query: { description: "Query to search the internet with", type: "str", required: true }, limit: { description: "Max results", type: "int", required: false } } }],
  },
  // firefunction-v2 reads `functions` (a JSON string) and `datetime`.
  functions_datetime: {
    messages: [
      sys,
      { role: "user", content: "Weather in Paris?" },
      { role: "assistant", content: "", tool_calls: [{ type: "function", function: { name: "get_weather", arguments: "{\"city\": \"Paris\"}" } }] },
      { role: "tool", name: "get_weather", content: "sunny" },
      { role: "user", content: "And tomorrow?" },
    ],
    functions: JSON.stringify(tools.map((t) => t.function)),
    datetime: "2024-07-01 12:00",
  },
  builtin_tools: { messages: [u1], tools, builtin_tools: ["code_interpreter", "brave_search"] },
};

const baseCtx = { bos_token: "<s>", eos_token: "</s>" };

// ---- templates ------------------------------------------------------------------

describe("chat templates render as @huggingface/jinja renders them", () => {
  test("the template folder exists", () => {
    assert.ok(TEMPLATE_DIR, `no chat-template folder in ${TEMPLATE_DIRS.join(", ")}`);
  });
  if (!TEMPLATE_DIR) return;
  const files = readdirSync(TEMPLATE_DIR).filter((f) => f.endsWith(".jinja")).sort();
  let rendered = 0, raised = 0;
  for (const file of files) {
    const full = path.join(TEMPLATE_DIR, file);
    const source = readFileSync(full, "utf8");
    describe(file, () => {
      for (const [name, conv] of Object.entries(conversations)) {
        for (const agp of [true, false]) {
          const label = `${name}, add_generation_prompt=${agp}`;
          test(label, () => {
            const ctx = { ...baseCtx, ...conv, add_generation_prompt: agp };
            const js = jsRender(source, ctx);
            if (js.ok) rendered++;
            else raised++;
            assertSame(js, huddleRender([full], ctx), `${file} / ${label}`);
          });
        }
      }
    });
  }
  test("summary", () => {
    console.log(`# ${files.length} templates x ${Object.keys(conversations).length * 2} contexts: ${rendered} rendered, ${raised} raised by both`);
    assert.ok(rendered > raised);
  });
});

describe("the default ChatML template", () => {
  const r = spawnSync(BIN, ["chat-template", "--print-default"], { encoding: "utf8" });
  const source = r.stdout;
  test("is printed", () => assert.match(source, /<\|im_start\|>/));
  for (const [name, conv] of Object.entries(conversations)) {
    test(name, () => {
      const ctx = { ...baseCtx, ...conv, add_generation_prompt: true };
      assertSame(jsRender(source, ctx), huddleRender(["--default"], ctx), name);
    });
  }
  test("renders the expected ChatML", () => {
    const h = huddleRender(["--default"], { messages: [sys, u1], add_generation_prompt: true });
    assert.equal(h.stdout, "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHello! What can you do?<|im_end|>\n<|im_start|>assistant\n");
  });
});

// ---- language corners ------------------------------------------------------------

const langCtx = {
  s: "héllo wörld 😀",
  n: 42,
  f: 1.5,
  z: 0,
  neg: -7,
  t: true,
  nul: null,
  xs: [3, 1, 2],
  strs: ["b", "A", "c", "a"],
  objs: [{ name: "b", v: 2, d: { p: 1 } }, { name: "a", v: 1, d: { p: 3 } }, { name: "c", v: 3 }],
  o: { b: 1, a: [1, 2], "2": "two", c: { d: null } },
  empty: [],
  eo: {},
  text: "  line one\nline two\n\n  line four  ",
};

const snippets = [
  // output of values
  "{{ n }}|{{ f }}|{{ t }}|{{ nul }}|{{ missing }}|{{ xs }}|{{ o }}|{{ 'x' }}",
  "{{ 1.0 }} {{ 2.50 }} {{ -0.0 }} {{ 10/4 }} {{ 10/5 }} {{ 1/3 }} {{ 2**100 }} {{ 2**-1 }} {{ 0.1+0.2 }}",
  "{{ 7//2 }} {{ -7//2 }} {{ 7%3 }} {{ -7%3 }} {{ 7.5//2 }} {{ 1//0 }} {{ 2**0.5 }} {{ 1e21 if false else 10**21 }}",
  "{{ [1, 'a', none, true, 1.5, [2], {'k': 'v'}] }}",
  "{{ (1, 2) }}",
  "{{ {'a': (1, 2)} }}",
  "{{ [undefined_thing] }}",
  // strings
  "{{ s|length }} {{ s.length }} {{ s[1] }} {{ s[-1] }} {{ s[13] }} {{ s[::-1] }} {{ s[1:4] }} {{ s[-3:] }}",
  "{{ s|upper }} {{ 'ǅ ß ﬁ'|upper }} {{ 'İSTANBUL ΟΔΟΣ'|lower }} {{ s|title }} {{ 'hello_world foo-bar 3rd'|title }} {{ 'élan vital'|capitalize }} {{ 'mIXED'|capitalize }}",
  "[{{ text|trim }}] [{{ text.strip() }}] [{{ text.lstrip() }}] [{{ text.rstrip() }}] [{{ '\u00a0x\u3000'|trim }}]",
  "{{ text|indent }}|{{ text|indent(2) }}|{{ text|indent(2, true) }}|{{ text|indent(width=3, first=true, blank=true) }}",
  "{{ 'a,b,,c'.split(',') }} {{ ' a  b c '.split() }} {{ 'a,b,c'.split(',', 1) }} {{ 'a b c'.split(none, 1) }} {{ 'a,b,c'.split(',', -2) }}",
  "{{ 'a,b'.split('') }}",
  "{{ 'aaa'.replace('a', 'b') }} {{ 'aaa'.replace('a', 'b', 2) }} {{ 'abc'.replace('', '-') }} {{ 'aaa'|replace('a', 'c', count=1) }} {{ 'x'.replace('x', 'y', none) }}",
  "{{ s.startswith('hé') }} {{ s.endswith(('x', '😀')) }} {{ s.startswith(['no']) }}",
  "{{ 'a' ~ 1 ~ 1.0 ~ true ~ [1, 2.0] ~ {'a': 1} }}",
  "{{ 'a' + 1 }} {{ 1 + 'a' }} {{ 'a' + 1.5 }} {{ 'x' + [1, 'b'] }}",
  "{{ 'a' + none }}",
  "{{ 'x' ~ [nul, none, missing] }} {{ [none, missing, 1]|unique }} {{ range(3, none) }} {{ [none]|string }} {{ none == missing }}",
  "{{ raise_exception(none) }}",
  "{{ 'é' in s }} {{ 'z' in s }} {{ 'a' not in 'abc' }} {{ 'b' in o }} {{ 'zz' in o }} {{ 2 in xs }} {{ '2' in xs }} {{ x in undefined_list }}",
  "{{ 'abc' < 'abd' }}",
  "{{ '\\x41\\u00e9\\n\\t\\'\\\"\\\\' }}",
  "{{ '\\ud83d\\ude00' }}",
  "{{ \"double\" 'adjacent' \"strings\" }}",
  // numbers and conversions
  "{{ '42'|int }} {{ '4.7'|int }} {{ 'x'|int }} {{ ' 12abc'|int }} {{ '3.25'|float }} {{ '1e3'|float }} {{ 'x'|float }} {{ 4.7|int }} {{ -4.7|int }} {{ 3|float }} {{ true|int }} {{ 'x'|int(7) }} {{ 'x'|float(default=2.5) }}",
  "{{ -3|abs }} {{ -3.5|abs }} {{ n|string }} {{ f|string }} {{ t|string }} {{ xs|string }} {{ 1.0|string }}",
  "{{ n == '42' }} {{ 1 == 1.0 }} {{ t == 1 }} {{ nul == missing }} {{ xs == xs }} {{ [1] == [1] }} {{ xs == '3,1,2' }} {{ '' == 0 }} {{ ' 0x10 ' == 16 }} {{ o == '[object Map]' }}",
  "{{ n > 3 }} {{ n <= 42.0 }} {{ -n }} {{ +f }} {{ -t }} {{ not n }} {{ not empty }} {{ not eo }} {{ 2 ** 3 ** 2 }}",
  "{{ t + 1 }}",
  "{{ nul + 1 }}",
  // tests
  "{{ n is number }} {{ f is integer }} {{ n is integer }} {{ s is string }} {{ xs is iterable }} {{ (1,2) is iterable }} {{ (1,2) is sequence }} {{ o is mapping }} {{ o is sequence }} {{ s is sequence }}",
  "{{ missing is defined }} {{ missing is undefined }} {{ nul is none }} {{ t is true }} {{ t is false }} {{ t is boolean }} {{ n is odd }} {{ n is even }} {{ range is callable }} {{ 'ab' is lower }} {{ 'AB' is upper }} {{ n is not string }}",
  "{{ f is odd }}",
  "{{ n is divisibleby }}",
  "{{ xs|selectattr('x') }}",
  // filters on arrays and mappings
  "{{ xs|first }} {{ xs|last }} {{ xs|length }} {{ xs|reverse }} {{ xs|sort }} {{ strs|sort }} {{ strs|sort(case_sensitive=true) }} {{ strs|sort(true) }} {{ xs|join }} {{ xs|join(', ') }} {{ s|join('.') }} {{ [1, none, 'x', [2, 3]]|join('|') }}",
  "{{ [3, 1, 3, '3', 1.0]|unique }} {{ xs|list }} {{ objs|sort(attribute='v')|map(attribute='name')|join }} {{ objs|sort(attribute='name', reverse=true)|map(attribute='name')|list }} {{ objs|map(attribute='d.p', default='?')|list }}",
  "{{ objs|selectattr('v', 'odd')|map(attribute='name')|join }} {{ objs|rejectattr('d')|map(attribute='name')|join }} {{ objs|selectattr('name', 'equalto', 'a')|length }} {{ objs|selectattr('d', 'defined')|length }}",
  "{{ objs|selectattr('v', 'equalto', 1) }}",
  "{{ empty|first }}",
  "{% set x = empty|first %}{{ x is defined }}",
  "{{ o|items }} {{ o.items() }} {{ o.keys() }} {{ o.values() }} {{ o|length }} {{ o|dictsort }} {{ {'b': 1, 'A': 2, 'a': 0}|dictsort }} {{ {'b': 1, 'a': 2}|dictsort(by='value', reverse=true) }}",
  "{{ o.get('b') }} {{ o.get('zz') }} {{ o.get('zz', 5) }} {{ o.c.d }} {{ o['c']['d'] }} {{ o.missing.deeper }} {{ nul.x }} {{ n.x }}",
  "{{ o|tojson }} {{ o|tojson(indent=2) }} {{ xs|tojson(indent=0) }} {{ s|tojson }} {{ s|tojson(ensure_ascii=true) }} {{ objs|tojson(separators=(',', ':')) }} {{ {'b': 1, 'a': 2, 'B': 3, '_x': 4, '1': 5}|tojson(sort_keys=true) }} {{ missing|tojson }} {{ [missing]|tojson }} {{ 1.0|tojson }} {{ eo|tojson(indent=4) }} {{ empty|tojson(indent=4) }}",
  "{{ '\\u0001\\b\\f\\u007f\\u2028'|tojson }}",
  "{{ {'b': 1, 'ä': 2, 'ß': 3, 'ss': 4, '😀': 5, '$': 6, '10': 7, 'Z': 8, '-y': 9, 'é1': 10, 'a': 11, 'A': 12, '_': 13, '^': 14}|tojson(sort_keys=true) }}",
  "{{ xs|default('d') }} {{ missing|default('d') }} {{ ''|default('d') }} {{ ''|default('d', true) }} {{ nul|default('d', boolean=true) }} {{ missing|default }}",
  "{{ missing|default }}",
  "{{ missing|length }}",
  "{{ xs|count }}",
  "{{ xs|reject('odd') }}",
  "{{ 'x'|safe }} {{ xs|safe }} {{ t|bool }}",
  // statements
  "{% for x in xs %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.previtem }}{{ loop.nextitem }};{% endfor %}",
  "{% for k, v in o.items() %}{{ k }}={{ v }};{% endfor %}{% for k in o %}{{ k }},{% endfor %}{% for x in empty %}no{% else %}empty{% endfor %}",
  "{% for x in xs if x > 1 %}{{ x }}{{ loop.length }}{% endfor %}|{% for x in xs %}{% if x == 1 %}{% continue %}{% endif %}{{ x }}{% endfor %}|{% for x in xs %}a{% if x == 1 %}{% break %}{% endif %}b{% endfor %}",
  "{% for x in xs %}{% continue %}{% else %}else{% endfor %}|{% for x in xs %}{{ x }}{% break %}{% else %}E{% endfor %}",
  "{% for x in s %}{{ x }}{% endfor %}",
  "{% for a, b in [(1, 2)] %}{{ a }}{% endfor %}",
  "{% for a, b in [[1, 2], [3]] %}{{ a }}{% endfor %}",
  "{% set x = 1 %}{% if true %}{% set x = 2 %}{% endif %}{{ x }}{% for i in xs %}{% set x = i %}{% endfor %}{{ x }}",
  "{% set ns = namespace(a=1, b=[]) %}{% for i in xs %}{% set ns.a = ns.a + i %}{% endfor %}{{ ns.a }} {{ ns }} {{ ns|tojson }}",
  "{% set ns = namespace({'x': 1}, y=2) %}{{ ns.x }}{{ ns.y }}{% set ns2 = namespace([['k', 'v'], 'ab']) %}{{ ns2.k }}{{ ns2.a }}",
  "{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set c, d = [3, 4] %}{{ c }}{{ d }}",
  "{% set a, b = [1] %}",
  "{% set x %}block {{ n }}{% endset %}[{{ x }}]",
  "{% set o.x = 1 %}",
  "{% macro m(a, b=2, c=a) %}{{ a }}-{{ b }}-{{ c }}{% endmacro %}{{ m(1) }} {{ m(1, 3) }} {{ m(1, c=5) }} {{ m(b=7, a=8) }}",
  "{% macro m(a) %}{{ a }}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1, 2, 3, x=4) }}",
  "{% macro m(a) %}{{ a }}{% endmacro %}{{ m(1, 2) }}",
  "{% macro m(a) %}{{ a }}{% endmacro %}{{ m(1, z=2) }}",
  "{% macro m() %}{{ n }}{{ local }}{% endmacro %}{% set local = 'L' %}{{ m() }}{% for local in ['F'] %}{{ m() }}{% endfor %}",
  "{% macro wrap(tag) %}<{{ tag }}>{{ caller() }}</{{ tag }}>{% endmacro %}{% call wrap('b') %}inner {{ n }}{% endcall %}",
  "{% macro list(items) %}{% for i in items %}{{ caller(i) }}{% endfor %}{% endmacro %}{% call(x) list(xs) %}[{{ x }}]{% endcall %}",
  "{% macro fact(k) %}{% if k <= 1 %}1{% else %}{{ k * (fact(k - 1)|int) }}{% endif %}{% endmacro %}{{ fact(6) }}",
  "{% filter upper %}shout {{ s }}{% endfilter %}|{% filter replace('o', '0') %}foo{% endfilter %}|{% filter length %}abc{% endfilter %}",
  "{{ 'yes' if t else 'no' }} {{ 'yes' if nul else 'no' }} {{ 'a' if false else 'b' if true else 'c' }} [{{ 'sel' if false }}] {{ (1 if true) }}",
  "{{ n if n > 40 and n < 50 or false }} {{ (xs and 'x') }} {{ (empty or 'fallback') }} {{ nul or missing or 0 }} {{ 0 and 1 }}",
  "{{ xs[0] }} {{ xs[-1] }} {{ xs[5] }} {{ xs[1:] }} {{ xs[:2] }} {{ xs[::2] }} {{ xs[::-1] }} {{ xs[-2:-1] }} {{ xs.1 }} {{ xs['length'] }}",
  "{{ xs[1.5] }}",
  "{{ o[1] }}",
  "{{ xs + [4] }} {{ xs + (5,) if false else xs + [5] }}",
  "{{ strftime_now('%Y') is string }} {{ range(3) }} {{ range(1, 7, 2) }} {{ range(5, 0, -2) }} {{ range(0) }} {{ range(0.5, 3) }}",
  "{{ range(1, 2, 0) }}",
  "{{ raise_exception('custom failure') }}",
  "{{ true and raise_exception('boom') }}",
  "{{ False }} {{ True }} {{ None }} {{ none is none }}",
  "{{ x.__class__ }} {{ s.__class__.__mro__ }} {{ o.__globals__ }} {{ range.__globals__ }} {{ ''.__class__ }}",
  "{{ xs.append }} {{ o.update }}",
  "{{ xs.append(4) }}",
  "{{ not a not b }}",
  // whitespace control
  "  {% if true %}\n  yes\n  {% endif %}\n  {{- ' x ' -}}  \n  {# c #}\n  z\n",
  "a  {%- if true -%}  b  {%- endif -%}  c {#- comment -#}  d {{- 'e' -}}  f\n",
  "x\n{% generation %}  gen  {% endgeneration %}\ny\n{%- generation -%}  g2  {%- endgeneration -%}\nz",
  "line\r\n  {% if true %}\r\n  in\r\n  {% endif %}\r\nend",
  "{%- set a = 1 -%}\n\n{{ a }}\n",
  "{{ {'a': {'b': 1}} }}",
  "{% for x in xs %}{{ x }}{% endfor %}\n",
  // errors
  "{% if %}",
  "{% for x in %}{% endfor %}",
  "{% if true %}unclosed",
  "{{ 'unterminated }}",
  "{{ 1 +* 2 }}",
  "{% endif %}",
  "{% unknown %}",
  "{{ x | }}",
  "{# unclosed comment",
  "{{ '\\q' }}",
  "{{ a.b. }}",
  "{% break %}",
  "{{ xs[] }}",
  "{% macro m(a, a) %}{% endmacro %}",
];

describe("language corners render as @huggingface/jinja renders them", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "huddle-jinja-"));
  snippets.forEach((src, i) => {
    test(`snippet ${i}: ${src.slice(0, 70).replace(/\n/g, "\\n")}`, () => {
      const file = path.join(dir, `s${i}.jinja`);
      writeFileSync(file, src);
      const js = jsRender(src, langCtx);
      assertSame(js, huddleRender([file], langCtx), `snippet ${i}`);
    });
  });
  test("cleanup", () => rmSync(dir, { recursive: true, force: true }));
});

// ---- sandbox limits --------------------------------------------------------------

describe("sandbox limits fail cleanly", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "huddle-jinja-lim-"));
  const run = (src, args = [], ctx = {}) => {
    const file = path.join(dir, "t.jinja");
    writeFileSync(file, src);
    const t0 = Date.now();
    const r = huddleRender([...args, file], ctx);
    return { ...r, ms: Date.now() - t0 };
  };
  const cases = [
    ["huge range", "{% for i in range(10**12) %}{% endfor %}", [], /loop iterations/],
    ["infinite loop by growing output", "{% set ns = namespace(s='x') %}{% for i in range(100) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}", [], /limit/],
    ["recursive macro", "{% macro m(n) %}{{ m(n + 1) }}{% endmacro %}{{ m(0) }}", [], /nested deeper|macro calls/],
    ["long output", "{% for i in range(100000) %}{{ 'xxxxxxxxxxxxxxxxxxxx' }}{% endfor %}", [], /output longer/],
    ["output limit flag", "{{ 'x' * 1 if false else 'abcdef' }}", ["--max-output", "3"], /limit/],
    ["step limit", "{% for i in range(1000) %}{% for j in range(1000) %}{{ '' }}{% endfor %}{% endfor %}", ["--max-steps", "100000"], /steps/],
    ["self-referencing namespace", "{% set ns = namespace() %}{% set ns.me = ns %}{{ ns|tojson }}", [], /nested deeper/],
    ["deep nesting in the template", "{{ " + "(".repeat(500) + "1" + ")".repeat(500) + " }}", [], /nested deeper/],
    ["long chain", "{{ 1" + " + 1".repeat(400) + " }}", [], /nested deeper/],
    ["memory", "{% set ns = namespace(s='') %}{% for i in range(20000) %}{% set ns.s = ns.s ~ 'abcdefghij' %}{% endfor %}{{ ns.s|length }}", ["--max-memory", "16000000"], /memory/],
    // @huggingface/jinja prints a function's JavaScript source; huddle refuses.
    ["printing a function", "{{ range }}", [], /function/],
    ["context variable clash", "{{ x }}", [], /already declared/, { range: 1 }],
  ];
  for (const [name, src, args, re, ctx] of cases) {
    test(name, () => {
      const r = run(src, args, ctx || {});
      assert.equal(r.status, 1, `expected failure, got ${r.status}: ${r.stdout.slice(0, 100)}`);
      assert.match(r.stderr, re);
      assert.ok(r.ms < 20000, `took ${r.ms} ms`);
    });
  }
  test("a template with a bad byte is refused", () => {
    const file = path.join(dir, "bad.jinja");
    writeFileSync(file, Buffer.from([0x7b, 0x7b, 0x20, 0xff, 0x20, 0x7d, 0x7d]));
    const r = huddleRender([file], {});
    assert.equal(r.status, 1);
    assert.match(r.stderr, /UTF-8/);
  });
  test("a syntax error names line and column", () => {
    const r = run("line one\n{% if x %}\n{{ x +* 2 }}\n{% endif %}");
    assert.equal(r.status, 1);
    assert.match(r.stderr, /line 3, column \d+/);
  });
  test("cleanup", () => rmSync(dir, { recursive: true, force: true }));
});
