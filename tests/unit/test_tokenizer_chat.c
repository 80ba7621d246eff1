/* Chat templates: the Jinja subset against Jinja2's own rendering of the
 * common templates (Llama-2, Llama-3, Phi-3, ChatML/Qwen2, Qwen2.5 with its
 * tool branches, Mistral, Zephyr/TinyLlama, Gemma) plus a template that
 * exercises the rest of the language; errors for unsupported constructs;
 * templates from the real tokenizer configs applied and encoded. */
#include "../test.h"
#include "lqmf/tokenizer.h"

#include <stdlib.h>

/* Chat templates rendered by Jinja2 3.1.6 with transformers' settings
 * (trim_blocks, lstrip_blocks, loopcontrols, raise_exception, tojson with
 * ensure_ascii=False); bos_token "<s>", eos_token "</s>". Generated table. */
typedef struct {
    const char *name, *text;
} chat_tmpl;
static const chat_tmpl k_templates[] = {
    {"llama2",
     "{% if messages[0]['role'] == 'system' %}{% set system_message = '<<SYS>>\\n' + "
     "messages[0]['content'].strip() + '\\n<</SYS>>\\n\\n' %}{% set loop_messages = messages[1:] %}{% else "
     "%}{% set system_message = '' %}{% set loop_messages = messages %}{% endif %}{% for message in "
     "loop_messages %}{% if message['role'] == 'user' %}{% if loop.first %}{% set content = system_message + "
     "message['content'].strip() %}{% else %}{% set content = message['content'].strip() %}{% endif %}{{ "
     "bos_token + '[INST] ' + content + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' ' + "
     "message['content'].strip() + ' ' + eos_token }}{% endif %}{% endfor %}"},
    {"llama3",
     "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
     "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\n"
     "\n"
     "'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + "
     "content %}{% endif %}{{ content }}{% endfor %}{{ '<|start_header_id|>assistant<|end_header_id|>\n"
     "\n"
     "' }}"},
    {"phi3",
     "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') %}{{'<|user|>' + '\n"
     "' + message['content'] + '<|end|>' + '\n"
     "' + '<|assistant|>' + '\n"
     "'}}{% elif (message['role'] == 'assistant') %}{{message['content'] + '<|end|>' + '\n"
     "'}}{% endif %}{% endfor %}"},
    {"chatml", "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ "
               "'<|im_start|>system\n"
               "You are a helpful assistant.<|im_end|>\n"
               "' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n"
               "' + message['content'] + '<|im_end|>' + '\n"
               "'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n"
               "' }}{% endif %}"},
    {"mistral",
     "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == "
     "0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% "
     "endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif "
     "message['role'] == 'assistant' %}{{ message['content'] + eos_token + ' ' }}{% else %}{{ "
     "raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}"},
    {"zephyr", "{% for message in messages %}\n"
               "{% if message['role'] == 'user' %}\n"
               "{{ '<|user|>\n"
               "' + message['content'] + eos_token }}\n"
               "{% elif message['role'] == 'system' %}\n"
               "{{ '<|system|>\n"
               "' + message['content'] + eos_token }}\n"
               "{% elif message['role'] == 'assistant' %}\n"
               "{{ '<|assistant|>\n"
               "'  + message['content'] + eos_token }}\n"
               "{% endif %}\n"
               "{% if loop.last and add_generation_prompt %}\n"
               "{{ '<|assistant|>' }}\n"
               "{% endif %}\n"
               "{% endfor %}"},
    {"qwen25",
     "{%- if tools %}\n"
     "    {{- '<|im_start|>system\\n' }}\n"
     "    {%- if messages[0]['role'] == 'system' %}\n"
     "        {{- messages[0]['content'] }}\n"
     "    {%- else %}\n"
     "        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}\n"
     "    {%- endif %}\n"
     "    {{- \"\\n\\n# Tools\\n\\nYou may call one or more functions to assist with the user "
     "query.\\n\\nYou are provided with function signatures within <tools></tools> XML tags:\\n<tools>\" }}\n"
     "    {%- for tool in tools %}\n"
     "        {{- \"\\n\" }}\n"
     "        {{- tool | tojson }}\n"
     "    {%- endfor %}\n"
     "    {{- \"\\n</tools><|im_end|>\\n\" }}\n"
     "{%- else %}\n"
     "    {%- if messages[0]['role'] == 'system' %}\n"
     "        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}\n"
     "    {%- else %}\n"
     "        {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
     "assistant.<|im_end|>\\n' }}\n"
     "    {%- endif %}\n"
     "{%- endif %}\n"
     "{%- for message in messages %}\n"
     "    {%- if (message.role == \"user\") or (message.role == \"system\" and not loop.first) or "
     "(message.role == \"assistant\" and not message.tool_calls) %}\n"
     "        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}\n"
     "    {%- elif message.role == \"assistant\" %}\n"
     "        {{- '<|im_start|>' + message.role }}\n"
     "        {%- if message.content %}\n"
     "            {{- '\\n' + message.content }}\n"
     "        {%- endif %}\n"
     "        {%- for tool_call in message.tool_calls %}\n"
     "            {%- if tool_call.function is defined %}\n"
     "                {%- set tool_call = tool_call.function %}\n"
     "            {%- endif %}\n"
     "            {{- '\\n<tool_call>\\n{\"name\": \"' }}\n"
     "            {{- tool_call.name }}\n"
     "            {{- '\", \"arguments\": ' }}\n"
     "            {{- tool_call.arguments | tojson }}\n"
     "            {{- '}\\n</tool_call>' }}\n"
     "        {%- endfor %}\n"
     "        {{- '<|im_end|>\\n' }}\n"
     "    {%- elif message.role == \"tool\" %}\n"
     "        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != \"tool\") %}\n"
     "            {{- '<|im_start|>user' }}\n"
     "        {%- endif %}\n"
     "        {{- '\\n<tool_response>\\n' }}\n"
     "        {{- message.content }}\n"
     "        {{- '\\n</tool_response>' }}\n"
     "        {%- if loop.last or (messages[loop.index0 + 1].role != \"tool\") %}\n"
     "            {{- '<|im_end|>\\n' }}\n"
     "        {%- endif %}\n"
     "    {%- endif %}\n"
     "{%- endfor %}\n"
     "{%- if add_generation_prompt %}\n"
     "    {{- '<|im_start|>assistant\\n' }}\n"
     "{%- endif %}\n"
     ""},
    {"gemma",
     "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') "
     "}}{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) "
     "%}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif "
     "%}{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = "
     "message['role'] %}{% endif %}{{ '<start_of_turn>' + role + '\n"
     "' + message['content'] | trim + '<end_of_turn>\n"
     "' }}{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\n"
     "'}}{% endif %}"},
    {"misc", "{%- set ns = namespace(found=false, n=0) -%}\n"
             "{%- for m in messages if m.role != 'system' -%}\n"
             "  {%- set ns.n = ns.n + 1 -%}\n"
             "  {{ loop.index }}/{{ loop.length }}:{{ m.role|upper }}={{ m.content[:5] ~ '|' ~ "
             "m.content[-3:] }}{{ ',' if not loop.last }}\n"
             "  {%- if m.content.startswith('Hi') %}{% set ns.found = true %}{% endif %}\n"
             "{%- else -%}\n"
             "none\n"
             "{%- endfor %}\n"
             "found={{ ns.found }} n={{ ns.n }} {{ [1, 2, 3] | join('-') }} {{ {'a': 1}['a'] }} {{ 7 // 2 }} "
             "{{ -7 % 3 }} {{ 'x' in 'xyz' }} {{ 'q' not in ['a'] }}\n"
             "{{ messages | length }} {{ (messages | first).role }} {{ 'abc'[::-1] }} {{ "
             "\"a,b\".split(\",\") }} {{ range(3) | list }} {{ none is none }} {{ undefined_var is defined "
             "}} {{ undefined_var | default('dflt') }}\n"
             "{%- for k, v in {'x': 1, 'y': 'two'}.items() %} {{ k }}={{ v }}{% endfor %}\n"
             "{% for i in range(10) %}{% if i == 2 %}{% continue %}{% endif %}{% if i == 5 %}{% break %}{% "
             "endif %}{{ i }}{% endfor %}\n"
             "   {# comment #}\n"
             "  {%+ if true %}kept-indent{% endif %}\n"
             "{{ \"tojson:\" }} {{ {'k': [\"v\", 1, true, none]} | tojson }}\n"
             ""},
    {"mistral3",
     "{%- if messages[0][\"role\"] == \"system\" %}\n"
     "    {%- set system_message = messages[0][\"content\"] %}\n"
     "    {%- set loop_messages = messages[1:] %}\n"
     "{%- else %}\n"
     "    {%- set loop_messages = messages %}\n"
     "{%- endif %}\n"
     "{%- if not tools is defined %}\n"
     "    {%- set tools = none %}\n"
     "{%- endif %}\n"
     "{%- set user_messages = loop_messages | selectattr(\"role\", \"equalto\", \"user\") | list %}\n"
     "\n"
     "{#- This block checks for alternating user/assistant messages, skipping tool calling messages #}\n"
     "{%- set ns = namespace() %}\n"
     "{%- set ns.index = 0 %}\n"
     "{%- for message in loop_messages %}\n"
     "    {%- if not (message.role == \"tool\" or message.role == \"tool_results\" or (message.tool_calls is "
     "defined and message.tool_calls is not none)) %}\n"
     "        {%- if (message[\"role\"] == \"user\") != (ns.index % 2 == 0) %}\n"
     "            {{- raise_exception(\"After the optional system message, conversation roles must alternate "
     "user/assistant/user/assistant/...\") }}\n"
     "        {%- endif %}\n"
     "        {%- set ns.index = ns.index + 1 %}\n"
     "    {%- endif %}\n"
     "{%- endfor %}\n"
     "\n"
     "{{- bos_token }}\n"
     "{%- for message in loop_messages %}\n"
     "    {%- if message[\"role\"] == \"user\" %}\n"
     "        {%- if tools is not none and (message == user_messages[-1]) %}\n"
     "            {{- \"[AVAILABLE_TOOLS] [\" }}\n"
     "            {%- for tool in tools %}\n"
     "                {%- set tool = tool.function %}\n"
     "                {{- '{\"type\": \"function\", \"function\": {' }}\n"
     "                {%- for key, val in tool.items() if key != \"return\" %}\n"
     "                    {%- if val is string %}\n"
     "                        {{- '\"' + key + '\": \"' + val + '\"' }}\n"
     "                    {%- else %}\n"
     "                        {{- '\"' + key + '\": ' + val|tojson }}\n"
     "                    {%- endif %}\n"
     "                    {%- if not loop.last %}\n"
     "                        {{- \", \" }}\n"
     "                    {%- endif %}\n"
     "                {%- endfor %}\n"
     "                {{- \"}}\" }}\n"
     "                {%- if not loop.last %}\n"
     "                    {{- \", \" }}\n"
     "                {%- else %}\n"
     "                    {{- \"]\" }}\n"
     "                {%- endif %}\n"
     "            {%- endfor %}\n"
     "            {{- \"[/AVAILABLE_TOOLS]\" }}\n"
     "            {%- endif %}\n"
     "        {%- if loop.last and system_message is defined %}\n"
     "            {{- \"[INST] \" + system_message + \"\\n\\n\" + message[\"content\"] + \"[/INST]\" }}\n"
     "        {%- else %}\n"
     "            {{- \"[INST] \" + message[\"content\"] + \"[/INST]\" }}\n"
     "        {%- endif %}\n"
     "    {%- elif message.tool_calls is defined and message.tool_calls is not none %}\n"
     "        {{- \"[TOOL_CALLS] [\" }}\n"
     "        {%- for tool_call in message.tool_calls %}\n"
     "            {%- set out = tool_call.function|tojson %}\n"
     "            {{- out[:-1] }}\n"
     "            {%- if not tool_call.id is defined or tool_call.id|length != 9 %}\n"
     "                {{- raise_exception(\"Tool call IDs should be alphanumeric strings with length 9!\") "
     "}}\n"
     "            {%- endif %}\n"
     "            {{- ', \"id\": \"' + tool_call.id + '\"}' }}\n"
     "            {%- if not loop.last %}\n"
     "                {{- \", \" }}\n"
     "            {%- else %}\n"
     "                {{- \"]\" + eos_token }}\n"
     "            {%- endif %}\n"
     "        {%- endfor %}\n"
     "    {%- elif message[\"role\"] == \"assistant\" %}\n"
     "        {{- \" \" + message[\"content\"]|trim + eos_token}}\n"
     "    {%- elif message[\"role\"] == \"tool_results\" or message[\"role\"] == \"tool\" %}\n"
     "        {%- if message.content is defined and message.content.content is defined %}\n"
     "            {%- set content = message.content.content %}\n"
     "        {%- else %}\n"
     "            {%- set content = message.content %}\n"
     "        {%- endif %}\n"
     "        {{- '[TOOL_RESULTS] {\"content\": ' + content|string + \", \" }}\n"
     "        {%- if not message.tool_call_id is defined or message.tool_call_id|length != 9 %}\n"
     "            {{- raise_exception(\"Tool call IDs should be alphanumeric strings with length 9!\") }}\n"
     "        {%- endif %}\n"
     "        {{- '\"call_id\": \"' + message.tool_call_id + '\"}[/TOOL_RESULTS]' }}\n"
     "    {%- else %}\n"
     "        {{- raise_exception(\"Only user and assistant roles are supported, with the exception of an "
     "initial optional system message!\") }}\n"
     "    {%- endif %}\n"
     "{%- endfor %}\n"
     ""},
    {"filters",
     "{{ messages | selectattr('role', 'equalto', 'user') | map(attribute='content') | join('|') }}\n"
     "{{ messages | rejectattr('role', 'eq', 'user') | list | length }} {{ [0, 1, 2, '', 'x'] | select | "
     "list }} {{ [1, 2, 3, 4] | reject('even') | list }}\n"
     "{%- for k, v in {'a': 1, 'b': 2, 'c': 3}.items() if v != 2 %} {{ loop.index }}{{ k }}{{ v }}{% endfor "
     "%}\n"
     "{{ strftime_now is defined }} {{ raise_exception is defined }} {{ nothing is defined }}"},
};
typedef struct {
    const char *tmpl, *msgs;
    bool agp;
    const char *want; /* NULL: an error */
} chat_case;
static const chat_case k_cases[] = {
    {"llama2", "one", false, "<s>[INST] Hello there, how are you? [/INST]"},
    {"llama2", "one", true, "<s>[INST] Hello there, how are you? [/INST]"},
    {"llama2", "sys3", false,
     "<s>[INST] <<SYS>>\n"
     "Be brief.\n"
     "<</SYS>>\n"
     "\n"
     "Hi! [/INST] Hello. </s><s>[INST] Tell me a joke\n"
     "please [/INST]"},
    {"llama2", "sys3", true,
     "<s>[INST] <<SYS>>\n"
     "Be brief.\n"
     "<</SYS>>\n"
     "\n"
     "Hi! [/INST] Hello. </s><s>[INST] Tell me a joke\n"
     "please [/INST]"},
    {"llama2", "alt", false, "<s>[INST] Hi [/INST] Yo </s><s>[INST] Bye [/INST]"},
    {"llama2", "alt", true, "<s>[INST] Hi [/INST] Yo </s><s>[INST] Bye [/INST]"},
    {"llama2", "empty", false, NULL},
    {"llama2", "empty", true, NULL},
    {"llama3", "one", false,
     "<s><|start_header_id|>user<|end_header_id|>\n"
     "\n"
     "Hello there, how are you?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
     "\n"
     ""},
    {"llama3", "one", true,
     "<s><|start_header_id|>user<|end_header_id|>\n"
     "\n"
     "Hello there, how are you?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
     "\n"
     ""},
    {"llama3", "sys3", false,
     "<s><|start_header_id|>system<|end_header_id|>\n"
     "\n"
     "Be brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n"
     "\n"
     "Hi!<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
     "\n"
     "Hello.<|eot_id|><|start_header_id|>user<|end_header_id|>\n"
     "\n"
     "Tell me a joke\n"
     "please<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
     "\n"
     ""},
    {"llama3", "sys3", true,
     "<s><|start_header_id|>system<|end_header_id|>\n"
     "\n"
     "Be brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n"
     "\n"
     "Hi!<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
     "\n"
     "Hello.<|eot_id|><|start_header_id|>user<|end_header_id|>\n"
     "\n"
     "Tell me a joke\n"
     "please<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
     "\n"
     ""},
    {"llama3", "alt", false,
     "<s><|start_header_id|>user<|end_header_id|>\n"
     "\n"
     "Hi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
     "\n"
     "Yo<|eot_id|><|start_header_id|>user<|end_header_id|>\n"
     "\n"
     "Bye<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
     "\n"
     ""},
    {"llama3", "alt", true,
     "<s><|start_header_id|>user<|end_header_id|>\n"
     "\n"
     "Hi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
     "\n"
     "Yo<|eot_id|><|start_header_id|>user<|end_header_id|>\n"
     "\n"
     "Bye<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
     "\n"
     ""},
    {"llama3", "empty", false,
     "<|start_header_id|>assistant<|end_header_id|>\n"
     "\n"
     ""},
    {"llama3", "empty", true,
     "<|start_header_id|>assistant<|end_header_id|>\n"
     "\n"
     ""},
    {"phi3", "one", false,
     "<s><|user|>\n"
     "Hello there, how are you?<|end|>\n"
     "<|assistant|>\n"
     ""},
    {"phi3", "one", true,
     "<s><|user|>\n"
     "Hello there, how are you?<|end|>\n"
     "<|assistant|>\n"
     ""},
    {"phi3", "sys3", false,
     "<s><|user|>\n"
     "Hi!<|end|>\n"
     "<|assistant|>\n"
     " Hello. <|end|>\n"
     "<|user|>\n"
     "Tell me a joke\n"
     "please<|end|>\n"
     "<|assistant|>\n"
     ""},
    {"phi3", "sys3", true,
     "<s><|user|>\n"
     "Hi!<|end|>\n"
     "<|assistant|>\n"
     " Hello. <|end|>\n"
     "<|user|>\n"
     "Tell me a joke\n"
     "please<|end|>\n"
     "<|assistant|>\n"
     ""},
    {"phi3", "alt", false,
     "<s><|user|>\n"
     "Hi<|end|>\n"
     "<|assistant|>\n"
     "Yo<|end|>\n"
     "<|user|>\n"
     "Bye<|end|>\n"
     "<|assistant|>\n"
     ""},
    {"phi3", "alt", true,
     "<s><|user|>\n"
     "Hi<|end|>\n"
     "<|assistant|>\n"
     "Yo<|end|>\n"
     "<|user|>\n"
     "Bye<|end|>\n"
     "<|assistant|>\n"
     ""},
    {"phi3", "empty", false, "<s>"},
    {"phi3", "empty", true, "<s>"},
    {"chatml", "one", false,
     "<|im_start|>system\n"
     "You are a helpful assistant.<|im_end|>\n"
     "<|im_start|>user\n"
     "Hello there, how are you?<|im_end|>\n"
     ""},
    {"chatml", "one", true,
     "<|im_start|>system\n"
     "You are a helpful assistant.<|im_end|>\n"
     "<|im_start|>user\n"
     "Hello there, how are you?<|im_end|>\n"
     "<|im_start|>assistant\n"
     ""},
    {"chatml", "sys3", false,
     "<|im_start|>system\n"
     " Be brief. <|im_end|>\n"
     "<|im_start|>user\n"
     "Hi!<|im_end|>\n"
     "<|im_start|>assistant\n"
     " Hello. <|im_end|>\n"
     "<|im_start|>user\n"
     "Tell me a joke\n"
     "please<|im_end|>\n"
     ""},
    {"chatml", "sys3", true,
     "<|im_start|>system\n"
     " Be brief. <|im_end|>\n"
     "<|im_start|>user\n"
     "Hi!<|im_end|>\n"
     "<|im_start|>assistant\n"
     " Hello. <|im_end|>\n"
     "<|im_start|>user\n"
     "Tell me a joke\n"
     "please<|im_end|>\n"
     "<|im_start|>assistant\n"
     ""},
    {"chatml", "alt", false,
     "<|im_start|>system\n"
     "You are a helpful assistant.<|im_end|>\n"
     "<|im_start|>user\n"
     "Hi<|im_end|>\n"
     "<|im_start|>assistant\n"
     "Yo<|im_end|>\n"
     "<|im_start|>user\n"
     "Bye<|im_end|>\n"
     ""},
    {"chatml", "alt", true,
     "<|im_start|>system\n"
     "You are a helpful assistant.<|im_end|>\n"
     "<|im_start|>user\n"
     "Hi<|im_end|>\n"
     "<|im_start|>assistant\n"
     "Yo<|im_end|>\n"
     "<|im_start|>user\n"
     "Bye<|im_end|>\n"
     "<|im_start|>assistant\n"
     ""},
    {"chatml", "empty", false, ""},
    {"chatml", "empty", true,
     "<|im_start|>assistant\n"
     ""},
    {"mistral", "one", false, "<s>[INST] Hello there, how are you? [/INST]"},
    {"mistral", "one", true, "<s>[INST] Hello there, how are you? [/INST]"},
    {"mistral", "sys3", false, NULL},
    {"mistral", "sys3", true, NULL},
    {"mistral", "alt", false, "<s>[INST] Hi [/INST]Yo</s> [INST] Bye [/INST]"},
    {"mistral", "alt", true, "<s>[INST] Hi [/INST]Yo</s> [INST] Bye [/INST]"},
    {"mistral", "empty", false, "<s>"},
    {"mistral", "empty", true, "<s>"},
    {"zephyr", "one", false,
     "<|user|>\n"
     "Hello there, how are you?</s>\n"
     ""},
    {"zephyr", "one", true,
     "<|user|>\n"
     "Hello there, how are you?</s>\n"
     "<|assistant|>\n"
     ""},
    {"zephyr", "sys3", false,
     "<|system|>\n"
     " Be brief. </s>\n"
     "<|user|>\n"
     "Hi!</s>\n"
     "<|assistant|>\n"
     " Hello. </s>\n"
     "<|user|>\n"
     "Tell me a joke\n"
     "please</s>\n"
     ""},
    {"zephyr", "sys3", true,
     "<|system|>\n"
     " Be brief. </s>\n"
     "<|user|>\n"
     "Hi!</s>\n"
     "<|assistant|>\n"
     " Hello. </s>\n"
     "<|user|>\n"
     "Tell me a joke\n"
     "please</s>\n"
     "<|assistant|>\n"
     ""},
    {"zephyr", "alt", false,
     "<|user|>\n"
     "Hi</s>\n"
     "<|assistant|>\n"
     "Yo</s>\n"
     "<|user|>\n"
     "Bye</s>\n"
     ""},
    {"zephyr", "alt", true,
     "<|user|>\n"
     "Hi</s>\n"
     "<|assistant|>\n"
     "Yo</s>\n"
     "<|user|>\n"
     "Bye</s>\n"
     "<|assistant|>\n"
     ""},
    {"zephyr", "empty", false, ""},
    {"zephyr", "empty", true, ""},
    {"qwen25", "one", false,
     "<|im_start|>system\n"
     "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
     "<|im_start|>user\n"
     "Hello there, how are you?<|im_end|>\n"
     ""},
    {"qwen25", "one", true,
     "<|im_start|>system\n"
     "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
     "<|im_start|>user\n"
     "Hello there, how are you?<|im_end|>\n"
     "<|im_start|>assistant\n"
     ""},
    {"qwen25", "sys3", false,
     "<|im_start|>system\n"
     " Be brief. <|im_end|>\n"
     "<|im_start|>user\n"
     "Hi!<|im_end|>\n"
     "<|im_start|>assistant\n"
     " Hello. <|im_end|>\n"
     "<|im_start|>user\n"
     "Tell me a joke\n"
     "please<|im_end|>\n"
     ""},
    {"qwen25", "sys3", true,
     "<|im_start|>system\n"
     " Be brief. <|im_end|>\n"
     "<|im_start|>user\n"
     "Hi!<|im_end|>\n"
     "<|im_start|>assistant\n"
     " Hello. <|im_end|>\n"
     "<|im_start|>user\n"
     "Tell me a joke\n"
     "please<|im_end|>\n"
     "<|im_start|>assistant\n"
     ""},
    {"qwen25", "alt", false,
     "<|im_start|>system\n"
     "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
     "<|im_start|>user\n"
     "Hi<|im_end|>\n"
     "<|im_start|>assistant\n"
     "Yo<|im_end|>\n"
     "<|im_start|>user\n"
     "Bye<|im_end|>\n"
     ""},
    {"qwen25", "alt", true,
     "<|im_start|>system\n"
     "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
     "<|im_start|>user\n"
     "Hi<|im_end|>\n"
     "<|im_start|>assistant\n"
     "Yo<|im_end|>\n"
     "<|im_start|>user\n"
     "Bye<|im_end|>\n"
     "<|im_start|>assistant\n"
     ""},
    {"qwen25", "empty", false, NULL},
    {"qwen25", "empty", true, NULL},
    {"gemma", "one", false,
     "<s><start_of_turn>user\n"
     "Hello there, how are you?<end_of_turn>\n"
     ""},
    {"gemma", "one", true,
     "<s><start_of_turn>user\n"
     "Hello there, how are you?<end_of_turn>\n"
     "<start_of_turn>model\n"
     ""},
    {"gemma", "sys3", false, NULL},
    {"gemma", "sys3", true, NULL},
    {"gemma", "alt", false,
     "<s><start_of_turn>user\n"
     "Hi<end_of_turn>\n"
     "<start_of_turn>model\n"
     "Yo<end_of_turn>\n"
     "<start_of_turn>user\n"
     "Bye<end_of_turn>\n"
     ""},
    {"gemma", "alt", true,
     "<s><start_of_turn>user\n"
     "Hi<end_of_turn>\n"
     "<start_of_turn>model\n"
     "Yo<end_of_turn>\n"
     "<start_of_turn>user\n"
     "Bye<end_of_turn>\n"
     "<start_of_turn>model\n"
     ""},
    {"gemma", "empty", false, NULL},
    {"gemma", "empty", true, NULL},
    {"misc", "one", false,
     "1/1:USER=Hello|ou?found=False n=1 1-2-3 1 3 2 True True\n"
     "1 user cba ['a', 'b'] [0, 1, 2] True False dflt x=1 y=two0134  kept-indenttojson: {\"k\": [\"v\", 1, "
     "true, null]}"},
    {"misc", "one", true,
     "1/1:USER=Hello|ou?found=False n=1 1-2-3 1 3 2 True True\n"
     "1 user cba ['a', 'b'] [0, 1, 2] True False dflt x=1 y=two0134  kept-indenttojson: {\"k\": [\"v\", 1, "
     "true, null]}"},
    {"misc", "sys3", false,
     "1/3:USER=Hi!|Hi!,2/3:ASSISTANT= Hell|o. ,3/3:USER=Tell |asefound=True n=3 1-2-3 1 3 2 True True\n"
     "4 system cba ['a', 'b'] [0, 1, 2] True False dflt x=1 y=two0134  kept-indenttojson: {\"k\": [\"v\", 1, "
     "true, null]}"},
    {"misc", "sys3", true,
     "1/3:USER=Hi!|Hi!,2/3:ASSISTANT= Hell|o. ,3/3:USER=Tell |asefound=True n=3 1-2-3 1 3 2 True True\n"
     "4 system cba ['a', 'b'] [0, 1, 2] True False dflt x=1 y=two0134  kept-indenttojson: {\"k\": [\"v\", 1, "
     "true, null]}"},
    {"misc", "alt", false,
     "1/3:USER=Hi|Hi,2/3:ASSISTANT=Yo|Yo,3/3:USER=Bye|Byefound=True n=3 1-2-3 1 3 2 True True\n"
     "3 user cba ['a', 'b'] [0, 1, 2] True False dflt x=1 y=two0134  kept-indenttojson: {\"k\": [\"v\", 1, "
     "true, null]}"},
    {"misc", "alt", true,
     "1/3:USER=Hi|Hi,2/3:ASSISTANT=Yo|Yo,3/3:USER=Bye|Byefound=True n=3 1-2-3 1 3 2 True True\n"
     "3 user cba ['a', 'b'] [0, 1, 2] True False dflt x=1 y=two0134  kept-indenttojson: {\"k\": [\"v\", 1, "
     "true, null]}"},
    {"misc", "empty", false, NULL},
    {"misc", "empty", true, NULL},
    {"mistral3", "one", false, "<s>[INST] Hello there, how are you?[/INST]"},
    {"mistral3", "one", true, "<s>[INST] Hello there, how are you?[/INST]"},
    {"mistral3", "sys3", false,
     "<s>[INST] Hi![/INST] Hello.</s>[INST]  Be brief. \n"
     "\n"
     "Tell me a joke\n"
     "please[/INST]"},
    {"mistral3", "sys3", true,
     "<s>[INST] Hi![/INST] Hello.</s>[INST]  Be brief. \n"
     "\n"
     "Tell me a joke\n"
     "please[/INST]"},
    {"mistral3", "alt", false, "<s>[INST] Hi[/INST] Yo</s>[INST] Bye[/INST]"},
    {"mistral3", "alt", true, "<s>[INST] Hi[/INST] Yo</s>[INST] Bye[/INST]"},
    {"mistral3", "empty", false, NULL},
    {"mistral3", "empty", true, NULL},
    {"filters", "one", false,
     "Hello there, how are you?\n"
     "0 [1, 2, 'x'] [1, 3] 1a1 2c3True True False"},
    {"filters", "one", true,
     "Hello there, how are you?\n"
     "0 [1, 2, 'x'] [1, 3] 1a1 2c3True True False"},
    {"filters", "sys3", false,
     "Hi!|Tell me a joke\n"
     "please\n"
     "2 [1, 2, 'x'] [1, 3] 1a1 2c3True True False"},
    {"filters", "sys3", true,
     "Hi!|Tell me a joke\n"
     "please\n"
     "2 [1, 2, 'x'] [1, 3] 1a1 2c3True True False"},
    {"filters", "alt", false,
     "Hi|Bye\n"
     "1 [1, 2, 'x'] [1, 3] 1a1 2c3True True False"},
    {"filters", "alt", true,
     "Hi|Bye\n"
     "1 [1, 2, 'x'] [1, 3] 1a1 2c3True True False"},
    {"filters", "empty", false,
     "\n"
     "0 [1, 2, 'x'] [1, 3] 1a1 2c3True True False"},
    {"filters", "empty", true,
     "\n"
     "0 [1, 2, 'x'] [1, 3] 1a1 2c3True True False"},
};

/* The message sets of the table. */
static const lqmf_chat_msg k_one[] = {{"user", "Hello there, how are you?"}};
static const lqmf_chat_msg k_sys3[] = {{"system", " Be brief. "},
                                       {"user", "Hi!"},
                                       {"assistant", " Hello. "},
                                       {"user", "Tell me a joke\nplease"}};
static const lqmf_chat_msg k_alt[] = {{"user", "Hi"}, {"assistant", "Yo"}, {"user", "Bye"}};

static const lqmf_chat_msg *msgs_of(const char *name, size_t *n) {
    if (!strcmp(name, "one")) return *n = 1, k_one;
    if (!strcmp(name, "sys3")) return *n = 4, k_sys3;
    if (!strcmp(name, "alt")) return *n = 3, k_alt;
    *n = 0;
    return k_one; /* "empty" */
}

static const char *template_of(const char *name) {
    for (size_t i = 0; i < sizeof k_templates / sizeof k_templates[0]; i++)
        if (!strcmp(k_templates[i].name, name)) return k_templates[i].text;
    return NULL;
}

/* A tokenizer whose only role here is to carry bos "<s>" / eos "</s>". */
static lqmf_tokenizer *tiny_tokenizer(void) {
    static const char json[] =
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"<s>\": 0, \"</s>\": 1, \"a\": 2}, \"merges\": []},"
        " \"added_tokens\": [{\"id\": 0, \"content\": \"<s>\", \"special\": true},"
        "                    {\"id\": 1, \"content\": \"</s>\", \"special\": true}]}";
    static const char cfg[] = "{\"bos_token\": \"<s>\", \"eos_token\": \"</s>\"}";
    lqmf_tokenizer *t = NULL;
    lqmf_status st = lqmf_tok_load_hf_json(json, strlen(json), cfg, strlen(cfg), "tiny", &t);
    if (st) lqmf_test_fail(__FILE__, __LINE__, "tiny tokenizer: %s", lqmf_last_error());
    return t;
}

TEST(tok_chat_templates_match_jinja2) {
    lqmf_tokenizer *t = tiny_tokenizer();
    REQUIRE(t);
    size_t agree = 0, n_cases = sizeof k_cases / sizeof k_cases[0];
    for (size_t i = 0; i < n_cases; i++) {
        const chat_case *c = &k_cases[i];
        size_t n;
        const lqmf_chat_msg *m = msgs_of(c->msgs, &n);
        char *out = NULL;
        lqmf_status st = lqmf_tok_chat_apply(t, template_of(c->tmpl), m, n, c->agp, &out);
        bool ok = c->want ? st == LQMF_OK && !strcmp(out, c->want) : st != LQMF_OK;
        if (ok)
            agree++;
        else
            CHECKF(0, "%s/%s/%d: got %s\n%s", c->tmpl, c->msgs, c->agp, st ? "error:" : "",
                   st ? lqmf_last_error() : out);
        free(out);
    }
    CHECK_EQ_INT(agree, n_cases);
    CHECK(n_cases >= 88);
    lqmf_tok_free(t);
}

TEST(tok_chat_raise_exception_message) {
    lqmf_tokenizer *t = tiny_tokenizer();
    REQUIRE(t);
    char *out = NULL;
    CHECK_ERR(lqmf_tok_chat_apply(t, template_of("mistral"), k_sys3, 4, false, &out), LQMF_E_INVALID,
              "Conversation roles must alternate");
    CHECK(out == NULL);
    lqmf_tok_free(t);
}

TEST(tok_chat_unsupported_constructs_named) {
    lqmf_tokenizer *t = tiny_tokenizer();
    REQUIRE(t);
    static const struct {
        const char *tmpl, *needle;
        lqmf_status st;
    } bad[] = {
        {"{% macro f(x) %}{{ x }}{% endmacro %}", "{% macro %}", LQMF_E_UNSUPPORTED},
        {"{{ messages | groupby('role') }}", "filter 'groupby'", LQMF_E_UNSUPPORTED},
        {"{{ [{'role': 'u'}] | selectattr('role', 'matching', 'u') | list }}", "test 'matching'",
         LQMF_E_UNSUPPORTED},
        {"{{ 1.5 }}", "floating-point", LQMF_E_UNSUPPORTED},
        {"{% include 'x' %}", "{% include %}", LQMF_E_UNSUPPORTED},
        {"{{ cycler(1) }}", "function cycler()", LQMF_E_UNSUPPORTED},
        {"line one\n{% if true %}x", "line 2: missing {% endif %}", LQMF_E_FORMAT},
        {"{{ 'unterminated }}", "not closed", LQMF_E_FORMAT},
        {"{% for x in %}{% endfor %}", "unexpected", LQMF_E_FORMAT},
        {"{% endfor %}", "without a matching opening tag", LQMF_E_FORMAT},
        {"{{ messages[0].role }}", "undefined", LQMF_E_INVALID},
        {"{{ 1 // 0 }}", "division by zero", LQMF_E_INVALID},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *out = NULL;
        CHECK_ERR(lqmf_tok_chat_apply(t, bad[i].tmpl, NULL, 0, false, &out), bad[i].st, bad[i].needle);
        free(out);
    }
    lqmf_tok_free(t);
}

TEST(tok_chat_deep_nesting_is_refused) {
    lqmf_tokenizer *t = tiny_tokenizer();
    REQUIRE(t);
    char tmpl[4096] = "{{ ";
    for (int i = 0; i < 500; i++) strcat(tmpl, "(");
    strcat(tmpl, "1");
    for (int i = 0; i < 500; i++) strcat(tmpl, ")");
    strcat(tmpl, " }}");
    char *out = NULL;
    CHECK_ERR(lqmf_tok_chat_apply(t, tmpl, NULL, 0, false, &out), LQMF_E_FORMAT, "too deep");
    lqmf_tok_free(t);
}

/* The Llama-2 template of tiny-llama's tokenizer_config.json, encoded with
 * special tokens parsed: every turn starts with BOS (id 1) and the
 * assistant turn ends with EOS (id 2); no BOS is added on top. */
TEST(tok_chat_tiny_llama_encodes_turns) {
    DATA(dir, "models/tiny-llama");
    lqmf_tokenizer *t;
    REQUIRE_OK(lqmf_tok_open(dir, &t));
    REQUIRE(lqmf_tok_chat_template(t));
    char *text = NULL;
    REQUIRE_OK(lqmf_tok_chat_apply(t, NULL, k_sys3, 4, true, &text));
    CHECK_STR(text,
              "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi! [/INST] Hello. </s><s>[INST] Tell me a joke\n"
              "please [/INST]");
    lqmf_tok_ids ids = {0};
    CHECK_OK(lqmf_tok_encode(t, text, strlen(text), LQMF_TOK_PARSE_SPECIAL, &ids));
    size_t bos = 0, eos = 0;
    for (size_t i = 0; i < ids.n; i++) bos += ids.ids[i] == 1, eos += ids.ids[i] == 2;
    CHECK_EQ_INT(ids.ids[0], 1);
    CHECK_EQ_INT(bos, 2);
    CHECK_EQ_INT(eos, 1);
    /* without PARSE_SPECIAL the markers are plain text */
    lqmf_tok_ids plain = {0};
    CHECK_OK(lqmf_tok_encode(t, text, strlen(text), 0, &plain));
    for (size_t i = 0; i < plain.n; i++) CHECK(plain.ids[i] != 1 && plain.ids[i] != 2);
    lqmf_tok_ids_free(&ids);
    lqmf_tok_ids_free(&plain);
    free(text);
    lqmf_tok_free(t);
}

TEST(tok_chat_llama3_header_tokens) {
    DATA(json, "tokenizers/llama3/tokenizer.json");
    lqmf_tokenizer *t;
    REQUIRE_OK(lqmf_tok_open(json, &t));
    char *text = NULL;
    REQUIRE_OK(lqmf_tok_chat_apply(t, NULL, k_one, 1, true, &text));
    CHECK_STR(
        text,
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHello there, how are you?<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n");
    lqmf_tok_ids ids = {0};
    CHECK_OK(lqmf_tok_encode(t, text, strlen(text), LQMF_TOK_PARSE_SPECIAL, &ids));
    /* <|begin_of_text|> <|start_header_id|> user <|end_header_id|> "\n\n" ... */
    REQUIRE(ids.n > 6);
    CHECK_EQ_INT(ids.ids[0], 128000);
    CHECK_EQ_INT(ids.ids[1], 128006);
    CHECK_EQ_INT(ids.ids[2], 882);
    CHECK_EQ_INT(ids.ids[3], 128007);
    CHECK_EQ_INT(ids.ids[4], 271);
    CHECK_EQ_INT(ids.ids[ids.n - 1], 271);
    CHECK_EQ_INT(ids.ids[ids.n - 2], 128007);
    lqmf_tok_ids_free(&ids);
    free(text);
    lqmf_tok_free(t);
}
