#!/usr/bin/env python3
# bench/infer_device_table.py RESULTS.jsonl...: the markdown table of BENCHMARKS.md from
# bench/infer-device.sh results (rounds of several files are pooled; bandwidth is the best
# measurement per thread count).
import json, sys, statistics as st
from collections import defaultdict
rows=[]
for f in sys.argv[1:]:
    rows += [json.loads(l) for l in open(f)]
bw={}
for r in rows:
    if r['what']=='bw': bw[r['threads']]=max(bw.get(r['threads'],0), r['res']['read_gb_s'])
agg=defaultdict(lambda: defaultdict(list)); bpt={}
for r in rows:
    k=(r.get('model'),r.get('type'),r.get('threads'))
    if r['what']=='huddle':
        agg[k]['hpp'].append(r['res']['pp_tok_s']); agg[k]['htg'].append(r['res']['tg_tok_s']); bpt[k]=r['res']['bytes_per_token']
    if r['what']=='llama':
        for o in r['res']:
            if o['n_prompt']>0 and o['n_gen']==0: agg[k]['lpp'].append(o['avg_ts'])
            if o['n_gen']>0 and o['n_prompt']==0: agg[k]['ltg'].append(o['avg_ts'])
m=lambda v: sum(v)/len(v)
sd=lambda v: st.stdev(v) if len(v)>1 else 0.0
f=lambda v: '%.1f ± %.1f'%(m(v),sd(v)) if m(v)>=20 else '%.2f ± %.2f'%(m(v),sd(v))
print('bandwidth GB/s (best):', {k: round(v,1) for k,v in sorted(bw.items())})
print('| model | type | threads | huddle pp128 | llama-bench pp128 | pp ratio | huddle tg64 | llama-bench tg64 | tg ratio | tg % of BW limit (huddle / llama) | n |')
print('|---|---|---|---|---|---|---|---|---|---|---|')
order={'110m':0,'1.1b':1}; torder={'f16':0,'q8_0':1,'q4_0':2,'q4_k_m':3}
for k in sorted(agg, key=lambda k:(order[k[0]],k[2],torder[k[1]])):
    v=agg[k]; lim=bw[k[2]]*1e9/bpt[k]
    print('| %s | %s | %d | %s | %s | **%.2f** | %s | %s | **%.2f** | %.0f%% / %.0f%% | %d |'%(k[0],k[1].upper().replace('Q4_K_M','Q4_K_M'),k[2],f(v['hpp']),f(v['lpp']),m(v['hpp'])/m(v['lpp']),f(v['htg']),f(v['ltg']),m(v['htg'])/m(v['ltg']),100*m(v['htg'])/lim,100*m(v['ltg'])/lim,len(v['hpp'])))
