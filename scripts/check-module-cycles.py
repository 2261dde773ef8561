#!/usr/bin/env python3
"""Fails when two top-level modules of the gateway crate import each other, directly or through
others (comments and test modules are not imports). Run from the repository root; .ci/run runs it."""
import re,os,collections,sys
root='gateway/src'
mods=set()
for f in os.listdir(root):
    mods.add(f[:-3] if f.endswith('.rs') else f)
mods-= {'lib','main'}
g=collections.defaultdict(set); why=collections.defaultdict(list)
for dp,dn,fn in os.walk(root):
    for f in fn:
        if not f.endswith('.rs') or f=='tests.rs': continue
        p=os.path.join(dp,f)
        rel=os.path.relpath(p,root)
        top=rel.split('/')[0]
        top=top[:-3] if top.endswith('.rs') else top
        s=open(p).read()
        s=re.split(r'#\[cfg\(test\)\]',s)[0]
        lines=[l for l in s.split('\n') if not l.strip().startswith('//')]
        for i,l in enumerate(lines):
            found=set(re.findall(r'crate::(\w+)',l))
            for grp in re.findall(r'crate::\{([^}]*)',l):
                found|=set(re.findall(r'(?:^|,)\s*(\w+)',grp))
            for m in found:
                if m!=top and m in mods:
                    g[top].add(m); why[(top,m)].append(rel+': '+l.strip()[:100])
idx={};low={};st=[];on=set();res=[];c=[0]
def sc(v):
    idx[v]=low[v]=c[0];c[0]+=1;st.append(v);on.add(v)
    for w in g[v]:
        if w not in idx: sc(w);low[v]=min(low[v],low[w])
        elif w in on: low[v]=min(low[v],idx[w])
    if low[v]==idx[v]:
        comp=[]
        while True:
            w=st.pop();on.discard(w);comp.append(w)
            if w==v:break
        res.append(comp)
for v in sorted(mods):
    if v not in idx: sc(v)
bad=0
for comp in res:
    if len(comp)>1:
        bad=1; print("cycle:",comp)
        for a in comp:
            for b in comp:
                if (a,b) in why: print('  ',a,'->',b,':',why[(a,b)][:3])
if not bad: print("no cycles between the gateway's top-level modules")
sys.exit(bad)
