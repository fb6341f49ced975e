"""Printable classroom notice (PDF, Simplified Chinese and English) generated from a room's agent config.

Schools must tell students and parents what the box in the room does. The text is
derived from the same config the agent runs with, so the notice cannot promise
emotion-free sensing while the device is set to ``full``, or list the wrong hours.
It lives beside the agent's config (``edge-agent notice``) because the cloud never reads that config.

    edge-agent notice --config agent.yaml --contact "Ms Wang, 010-1234" --out notice.pdf
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from classpulse_contract.cjk_font import SC_INDEX_IN_TTC, find_cjk_font
from edge_agent.config import AgentConfig, load_agent_config

DAY_ZH = {"mon": "周一", "tue": "周二", "wed": "周三", "thu": "周四", "fri": "周五", "sat": "周六", "sun": "周日"}


def notice_lines(cfg: AgentConfig, contact: str) -> list[tuple[str, str]]:
    """(Chinese, English) paragraphs; pure so that tests can check the promises against the config."""
    sensing = []
    if cfg.video.source:
        sensing.append(("摄像头：统计人脸数量、面向黑板的比例、举手次数",
                        "Camera: counts faces, the share facing the board, hand raises"))
        if cfg.policy == "full":
            sensing.append((f"表情分布：仅在至少 {cfg.k_anonymity} 人时以全班比例发布",
                            f"Facial-expression mix: only as a class-wide share, and only with at least "
                            f"{cfg.k_anonymity} faces"))
    if cfg.audio.source:
        sensing.append(("麦克风：统计说话时间和轮次", "Microphone: measures talk time and turns"))
        if cfg.policy == "full":
            sensing.append(("语气分布：仅以全班比例发布", "Tone of voice: only as a class-wide mix"))
    if cfg.policy == "no-emotion":
        sensing.append(("本设备不进行任何情绪识别（符合欧盟《人工智能法》第5条）",
                        "This device runs no emotion recognition at all (EU AI Act Art. 5(1)(f))"))
    if cfg.policy == "off":
        sensing = [("本设备已关闭，不进行任何感知", "This device is switched off and senses nothing")]
    if cfg.schedule.always:
        hours = [("演示模式：全天运行", "Demo mode: runs at all times")]
    elif cfg.schedule.periods:
        hours = [(f"{'、'.join(DAY_ZH[d] for d in p.days)} {p.start:%H:%M}–{p.end:%H:%M}",
                  f"{', '.join(d.capitalize() for d in p.days)} {p.start:%H:%M}–{p.end:%H:%M}")
                 for p in cfg.schedule.periods]
    else:
        hours = [("未设置上课时间：设备不会感知", "No class periods set: the device senses nothing")]
    never = [
        ("从不录像、录音或拍照；画面和声音只在设备内存中停留几秒",
         "Never records video, audio or photos; frames and sound stay in the device's memory for seconds"),
        ("从不识别个人身份，不保存人脸特征", "Never identifies anyone and keeps no face features"),
        ("只发送全班匿名统计；个人学业预警只使用成绩、出勤等教务记录",
         "Sends only anonymous class-wide numbers; individual early warnings use academic records only"),
    ]
    return [("课堂参与度感知告知书", "Classroom engagement sensing notice"),
            (f"教室 {cfg.device.room}（{cfg.device.site}）", f"Room {cfg.device.room} ({cfg.device.site})"),
            ("设备测量的内容", "What the device measures"), *sensing,
            ("运行时间", "When it runs"), *hours,
            ("设备从不做的事", "What it never does"), *never,
            ("联系人", "Contact"), (contact, contact)]


HEADINGS = {"设备测量的内容", "运行时间", "设备从不做的事", "联系人"}


def render_notice(cfg: AgentConfig, contact: str, out: Path) -> Path:
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    pdf.add_font("cjk", fname=str(find_cjk_font()), collection_font_number=SC_INDEX_IN_TTC)
    lines = notice_lines(cfg, contact)
    for i, (zh, en) in enumerate(lines):
        if i == 0:
            pdf.set_font("cjk", size=22)
            pdf.multi_cell(0, 12, zh, new_x="LMARGIN", new_y="NEXT")
            pdf.set_font("cjk", size=16)
            pdf.multi_cell(0, 9, en, new_x="LMARGIN", new_y="NEXT")
            continue
        heading = zh in HEADINGS or i == 1
        pdf.ln(3 if heading else 1)
        pdf.set_font("cjk", size=14 if heading else 11)
        bullet = "" if heading else "• "
        pdf.multi_cell(0, 7, bullet + zh, new_x="LMARGIN", new_y="NEXT")
        if en != zh:
            pdf.set_font("cjk", size=12 if heading else 10)
            pdf.set_text_color(70, 70, 70)
            pdf.multi_cell(0, 6, bullet + en, new_x="LMARGIN", new_y="NEXT")
            pdf.set_text_color(0, 0, 0)
    out.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(out))
    return out


def main(args: argparse.Namespace) -> int:
    """CLI: ``edge-agent notice --config FILE --contact TEXT --out FILE.pdf`` (PDF rendering needs fpdf2)."""
    out = render_notice(load_agent_config(args.config), args.contact, Path(args.out))
    print(json.dumps({"notice": str(out)}))
    return 0


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--config", "--agent-config", dest="config", required=True, help="the room's agent config")
    ap.add_argument("--contact", required=True, help="who to ask: name, e-mail, phone")
    ap.add_argument("--out", required=True)
